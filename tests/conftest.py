"""Fixtures after flaskr's: app, client, runner, and small builders.

Every test gets an empty database: a fresh SQLite file, or, with
TOKENAPP_TEST_BACKEND=postgresql, a PostgreSQL database made for this run
(from TOKENAPP_TEST_DATABASE_URL) and emptied between tests.

Tests marked `backend_independent` (none of their fixtures reaches
`database_url`, so their outcome cannot depend on TOKENAPP_TEST_BACKEND) run in
the SQLite pass only: the PostgreSQL pass deselects them and says how many.
"""

import datetime
import graphlib
import os
import re
import secrets
import sqlite3
import time
import uuid
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import pytest
from flask import has_app_context
from flask.globals import app_ctx
from flask.testing import FlaskClient

from tokenapp import accounts
from tokenapp import create_app
from tokenapp import db
from tokenapp import lifecycle
from tokenapp import projects
from tokenapp import usage
from tokenapp.errors import MEDIA_TYPE

PASSWORD = "correct horse battery staple"
BACKEND = os.environ.get("TOKENAPP_TEST_BACKEND", "sqlite")


class Clock:
    """A clock tests move by hand; naive UTC like the app's own."""

    def __init__(self):
        self.now = datetime.datetime(2030, 1, 1, 12, 0, 0)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += datetime.timedelta(**delta)


INDEPENDENT = "backend_independent"
_LEFT_OUT = pytest.StashKey[int]()


def pytest_collection_modifyitems(config, items):
    """Refuse a wrong backend_independent mark; leave the marked out of the PostgreSQL pass."""
    marked = [item for item in items if item.get_closest_marker(INDEPENDENT)]
    wrong = [item.nodeid for item in marked if "database_url" in item.fixturenames]
    if wrong:
        raise pytest.UsageError(
            f"marked {INDEPENDENT} but a fixture reaches the database: " + ", ".join(wrong)
        )
    if BACKEND == "postgresql" and marked:
        left_out = set(marked)
        items[:] = [item for item in items if item not in left_out]
        config.hook.pytest_deselected(items=marked)
    config.stash[_LEFT_OUT] = len(marked) if BACKEND == "postgresql" else 0


def pytest_terminal_summary(terminalreporter, config):
    left_out = config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"PostgreSQL pass: {left_out} tests marked {INDEPENDENT} left out "
            "(none of their fixtures reaches the test database; they ran in the SQLite pass)"
        )


def _psycopg():
    import psycopg2
    import psycopg2.sql

    return psycopg2


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this run, dropped at the end."""
    base = os.environ.get("TOKENAPP_TEST_DATABASE_URL")
    if not base:
        pytest.skip("TOKENAPP_TEST_DATABASE_URL is unset: no PostgreSQL server to test against")
    name = f"tokenapp_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _psycopg().connect(base)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    yield url
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory) -> bytes:
    """An SQLite database migrated once for the run: its bytes.

    The `app` fixture starts each test from a copy, as the PostgreSQL pass
    migrates its database once and empties it between tests: running every
    migration again cost ~0.15 s a test. A test that gives `database_url` to a
    server without `app` still gets a path with no file, as before, and
    tests/test_migrations.py still migrates from empty.
    """
    path = tmp_path_factory.mktemp("schema") / "tokenapp.db"
    db.database.initialize(db.connect(f"sqlite:///{path}"))
    db.migrate()
    db.database.close_all()
    with sqlite3.connect(path) as conn:  # fold the WAL back into the file: one file to copy
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.read_bytes()


@pytest.fixture
def database_url(request, tmp_path):
    if BACKEND == "postgresql":
        url = request.getfixturevalue("postgres_url")
        _empty_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'tokenapp.db'}"


def _start_from_schema(url: str, schema: bytes) -> None:
    """Write the migrated schema as the SQLite file at `url`, 0600, unless the file exists."""
    try:
        fd = os.open(url.removeprefix("sqlite:///"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # made already (a server of this test): db.migrate() brings it up to date
    with os.fdopen(fd, "wb") as fh:
        fh.write(schema)


FOREIGN_KEYS = """
    SELECT child.relname, parent.relname FROM pg_constraint c
    JOIN pg_class child ON child.oid = c.conrelid
    JOIN pg_class parent ON parent.oid = c.confrelid
    JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE c.contype = 'f' AND n.nspname = 'public'
"""
OWNED_SEQUENCES = """
    SELECT s.oid, t.relname FROM pg_class s
    JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')
    JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace n ON n.oid = s.relnamespace
    WHERE s.relkind = 'S' AND n.nspname = 'public'
"""


def _empty_postgres(url: str) -> None:
    """What TRUNCATE ... RESTART IDENTITY CASCADE did, in ms instead of ~0.4 s a test.

    Every row but the migrations' is deleted, referencing tables first, and the
    sequences those tables own restart, in one transaction. (TRUNCATE makes new
    files for each of ~20 tables and their indexes: a third of the PostgreSQL pass.)
    """
    sql = _psycopg().sql
    conn = _psycopg().connect(url)
    cur = conn.cursor()
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    tables = {row[0] for row in cur.fetchall()} - {"schema_migration"}
    cur.execute(FOREIGN_KEYS)
    referenced_by = {table: set() for table in tables}
    for child, parent in cur.fetchall():
        if child != parent and {child, parent} <= tables:
            referenced_by[parent].add(child)
    order = graphlib.TopologicalSorter(referenced_by).static_order()
    cur.execute(OWNED_SEQUENCES)
    sequences = [oid for oid, table in cur.fetchall() if table in tables]
    deletes = [sql.SQL("DELETE FROM {}").format(sql.Identifier(table)) for table in order]
    restart = sql.SQL(
        "SELECT setval(seqrelid, seqstart, false) FROM pg_sequence WHERE seqrelid = ANY(%s::oid[])"
    )
    cur.execute(sql.SQL("; ").join([*deletes, restart]), (sequences,))
    conn.commit()
    conn.close()


class RequestClient(FlaskClient):
    """A test client whose every request gets its own `g`, as in production.

    Inside the ctx fixture's app context Flask reuses that context for each
    request, so flask-login's cached user (g._login_user) and Flask-WTF's
    cached CSRF token would leak from one request, or one client, to the next.
    """

    def open(self, *args, **kwargs):
        if not has_app_context():
            return super().open(*args, **kwargs)
        context = app_ctx._get_current_object()
        outer = context.g
        context.g = self.application.app_ctx_globals_class()
        try:
            return super().open(*args, **kwargs)
        finally:
            context.g = outer


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app_overrides():
    """Extra create_app settings; parametrize it to change them for a test."""
    return {}


@pytest.fixture
def app(request, tmp_path, monkeypatch, database_url, app_overrides):
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    if BACKEND != "postgresql":
        _start_from_schema(database_url, request.getfixturevalue("sqlite_schema"))
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "BCRYPT_ROUNDS": 4,
            **app_overrides,
        }
    )
    app.test_client_class = RequestClient
    with app.app_context():
        db.migrate()
    yield app
    with app.app_context():
        usage.flush()  # counts of this test's requests stay in this test's database
    db.database.close_all()


@pytest.fixture
def sql_log(app, monkeypatch):
    """Every statement the app sends through peewee, in order."""
    # Hourly usage counts flush after a request now and then; not during these.
    app.config["USAGE_FLUSH_SECONDS"] = 10**9
    # peewee's query hook: prepared.Prepared sends its statements through peewee's own
    # path while one is set (it skips that layer otherwise).
    statements = []
    monkeypatch.setattr(
        db.database.obj, "query_hooks", [lambda event: statements.append(event.sql)]
    )
    return statements


@pytest.fixture
def ctx(app):
    """An app context with an open connection, for builders and assertions."""
    with app.app_context(), db.database.connection_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(ctx):
    def make(username=None, *, password=PASSWORD, admin=False):
        return accounts.create_user(
            username or f"u{uuid.uuid4().hex[:8]}", password, is_admin=admin
        )

    return make


@pytest.fixture
def make_project(ctx, make_user):
    def make(slug=None, *, owner=None, members=()):
        owner = owner or make_user()
        project = projects.create(slug or f"p{uuid.uuid4().hex[:8]}", None, owner)
        for user, role in members:
            projects.add_member(project, user, role)
        return project

    return make


@pytest.fixture
def make_token(ctx, make_user):
    """A PAT: returns (credential, secret)."""

    def make(scopes=("dashboard",), *, user=None, days=None, note="test token"):
        return lifecycle.issue(
            "pat",
            user or make_user(),
            note,
            scopes=list(scopes),
            expires_at=lifecycle.expiry(days),
        )

    return make


@pytest.fixture
def make_key(ctx):
    """A project key of `user` in `project`: returns (credential, secret)."""

    def make(project, user, kind="full", label="test key"):
        return lifecycle.issue(kind, user, label, project=project)

    return make


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def assert_problem(response, status: int, *, field: str | None = None) -> dict:
    """The one error assertion: problem+json with the RFC 9457 members."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == MEDIA_TYPE
    body = response.get_json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body
    return body


class AuthActions:
    """Sign in and out through the real pages, CSRF token included."""

    CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

    def __init__(self, client):
        self.client = client

    def csrf(self, path: str) -> str:
        page = self.client.get(path).get_data(as_text=True)
        match = self.CSRF.search(page)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post(self, path: str, data: dict, *, form_page: str | None = None, **kwargs):
        data = dict(data, csrf_token=self.csrf(form_page or path))
        return self.client.post(path, data=data, **kwargs)

    def login(self, username: str, password: str = PASSWORD):
        return self.post("/login", {"username": username, "password": password})

    def logout(self):
        return self.post("/logout", {}, form_page="/")


@pytest.fixture
def auth(client):
    return AuthActions(client)


def within_one_minute(seconds: int = 20) -> None:
    """Wait, if need be, until `seconds` fit before the wall clock's next minute: per-minute
    windows (rate limits, the report throttle) count by the calendar minute, so a run of
    requests that crosses one starts counting again half-way."""
    second = datetime.datetime.now(datetime.UTC).second
    if second > 60 - seconds:
        time.sleep(61 - second)
