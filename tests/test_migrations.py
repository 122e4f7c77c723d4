"""Migrations bring an empty database and an older one to the current schema (issue 2)."""

import datetime
import json
import os
import pathlib
import secrets
import uuid
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import pytest
from conftest import BACKEND
from peewee import Table
from playhouse.migrations import Runner

from tokenapp import ceremonies
from tokenapp import db
from tokenapp import models

TABLES = [
    models.User,
    models.Project,
    models.Membership,
    models.Credential,
    models.Secret,
    models.Document,
    models.LoginFailure,
    models.Setting,
    models.AuditEvent,
    models.Usage,
    models.ExpiryNotice,
    models.RateWindow,
    models.UserSession,
    models.TwoFactor,
    models.RecoveryCode,
    models.Passkey,
    models.ExternalIdentity,
    ceremonies.SpentChallenge,
]


@pytest.fixture
def empty_database(tmp_path):
    """A database with no tables at all, bound to tokenapp's proxy."""
    if BACKEND == "postgresql":
        import psycopg2

        base = os.environ["TOKENAPP_TEST_DATABASE_URL"]
        name = f"tokenapp_migrations_{secrets.token_hex(4)}"
        admin = psycopg2.connect(base)
        admin.autocommit = True
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    db.database.initialize(db.connect(url))
    with db.database.connection_context():
        yield db.database
    db.database.close_all()
    if BACKEND == "postgresql":
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def all_migrations() -> list[str]:
    return [m.name for m in Runner(db.database.obj, db.MIGRATIONS).migrations()]


def assert_current_schema(database) -> None:
    for model in TABLES:
        table = model._meta.table_name
        assert database.table_exists(table), table
        columns = {column.name for column in database.get_columns(table)}
        wanted = {field.column_name for field in model._meta.sorted_fields}
        assert wanted <= columns, (table, wanted - columns)
    assert db.pending() == []


def test_empty_database_reaches_the_current_schema(empty_database):
    assert empty_database.get_tables() == []
    assert db.migrate() == all_migrations()
    assert_current_schema(empty_database)
    assert db.migrate() == []


def test_older_database_reaches_the_current_schema_with_its_data(empty_database):
    runner = Runner(empty_database.obj, db.MIGRATIONS)
    assert runner.up(target="0001_initial") == ["0001_initial"]
    moment = datetime.datetime(2030, 1, 1)
    credential_id = uuid.uuid4()
    with empty_database.atomic():
        user_id = models.User.insert(
            username="old", password_hash="$2b$04$x", created_at=moment
        ).execute()
        project_id = models.Project.insert(
            slug="legacy", name="Legacy", created_at=moment
        ).execute()
        models.Membership.insert(
            project=project_id, user=user_id, role="owner", created_at=moment
        ).execute()
        models.Credential.insert(
            id=credential_id,
            kind="pat",
            user=user_id,
            note="from before",
            scopes=["dashboard"],
            created_at=moment,
        ).execute()
        # The columns of 0001 only: the model's later columns with defaults do not exist yet.
        Table("secret", ("credential_id", "digest", "hint", "created_at")).bind(
            empty_database
        ).insert(
            credential_id=models.Secret.credential.db_value(credential_id),
            digest="d" * 64,
            hint="tkp_abcd",
            created_at=moment,
        ).execute()

    applied = db.migrate()

    assert applied == all_migrations()[1:]
    assert_current_schema(empty_database)
    user = models.User.get(models.User.username == "old")
    assert user.webhook_url is None and user.is_active
    credential = models.Credential.get_by_id(credential_id)
    assert credential.note == "from before"
    assert credential.scopes == ["dashboard"]
    assert credential.ip_allowlist is None and credential.rate_limit is None
    assert models.Membership.role_of(user.id, project_id) == "owner"
    assert models.Secret.get(models.Secret.credential == credential_id).digest == "d" * 64


# The schema migrations 0001-0009 built on main before they shared tokenapp/migrations/_frozen.py
# (tests/schema/*.json): a refactor of released migrations must build exactly the same tables.
FROZEN_UP_TO = "0009_two_factor_sso"
SNAPSHOT = pathlib.Path(__file__).parent / "schema" / f"up_to_0009.{BACKEND}.json"


def schema_dump(database) -> dict:
    """Every table's columns, indexes and constraints, as the database itself describes them."""
    if BACKEND == "postgresql":
        columns = database.execute_sql(
            "SELECT table_name, ordinal_position, column_name, data_type, is_nullable,"
            " column_default, character_maximum_length FROM information_schema.columns"
            " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ).fetchall()
        indexes = database.execute_sql(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() ORDER BY tablename, indexname"
        ).fetchall()
        constraints = database.execute_sql(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2"
        ).fetchall()
        rows = {"columns": columns, "indexes": indexes, "constraints": constraints}
    else:
        rows = {
            "sqlite_master": database.execute_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            ).fetchall()
        }
    return {  # a row a line: a difference reads as the lines that differ
        kind: [json.dumps(list(row)) for row in found if "schema_migration" not in str(row)]
        for kind, found in rows.items()
    }


def test_migrations_build_the_schema_they_built_before_they_shared_a_module(empty_database):
    runner = Runner(empty_database.obj, db.MIGRATIONS)
    runner.up(target=FROZEN_UP_TO)
    dump = schema_dump(empty_database)
    if os.environ.get("TOKENAPP_WRITE_SCHEMA_SNAPSHOT"):  # once, from main: the reference
        SNAPSHOT.write_text(json.dumps(dump, indent=1) + "\n")
    assert dump == json.loads(SNAPSHOT.read_text())
