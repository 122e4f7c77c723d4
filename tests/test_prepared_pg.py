"""On PostgreSQL: the hot path's statements prepared once per connection, and again when lost."""

import psycopg2
import pytest
from conftest import BACKEND
from conftest import PASSWORD
from conftest import bearer
from peewee import DatabaseError

from tokenapp import accounts
from tokenapp import credentials
from tokenapp import db
from tokenapp import lifecycle
from tokenapp.access import _membership
from tokenapp.auth import _lookup
from tokenapp.documents import _one
from tokenapp.documents import _with_secret
from tokenapp.models import Document
from tokenapp.models import RateWindow

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="server-side PREPARE")

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def app_overrides():
    # These follow auth's own lookup statement; with the cache (tokenapp/authcache.py) a
    # request sends its counted lookup or the counter: tests/test_auth_cache.py.
    return {"AUTH_CACHE": False}


def _name(prepared) -> str:
    return prepared.name


def _held() -> dict[str, int]:
    """This connection's prepared statements and how often each ran."""
    cursor = db.database.connection().cursor()
    cursor.execute("SELECT name, generic_plans + custom_plans FROM pg_prepared_statements")
    return dict(cursor.fetchall())


def _prepares(sql_log, prepared) -> int:
    return sum(1 for sql in sql_log if sql.startswith(f"PREPARE {_name(prepared)} "))


def test_the_lookup_is_prepared_once_per_connection_and_reused(ctx, client, make_token, sql_log):
    _, secret = make_token()
    for _ in range(4):
        assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    assert _prepares(sql_log, _lookup) == 1
    assert _held()[_name(_lookup)] == 4
    assert not any(sql.lstrip().startswith("SELECT") and '"digest"' in sql for sql in sql_log)


def test_prepared_and_plain_give_the_same_rows(ctx, make_user, make_project, make_token, make_key):
    owner = make_user("olive")
    project = make_project("billing", owner=owner)
    _, pat = make_token(["dashboard:view"], user=owner)
    _, key = make_key(project, owner, "export")
    doc = Document.create(project=project, collection="dashboards", body={"a": 1}, created_by=owner)
    in_doc = {"collection": "dashboards", "doc_id": doc.id}
    calls = [
        (_lookup, {"digest": credentials.digest(pat)}),
        (_lookup, {"digest": credentials.digest(key)}),
        (_lookup, {"digest": "0" * 64}),
        (_membership, {"slug": "billing", "user_id": owner.id}),
        (_membership, {"slug": "nope", "user_id": owner.id}),
        (_one, {"project": project.id, "collection": "dashboards", "doc_id": doc.id}),
        (_with_secret, {"digest": credentials.digest(pat), "slug": "billing", **in_doc}),
    ]
    for prepared, values in calls:
        plain = prepared.build(**values).dicts().first()  # peewee's own way, no PREPARE
        if plain is not None:  # only the columns auth's `convert` keeps as tuples may differ
            kept = {"scopes", "ip_allowlist"} & set(prepared.convert)
            plain = {k: tuple(v) if k in kept and v is not None else v for k, v in plain.items()}
        assert prepared.first(**values) == plain
        assert _name(prepared) in _held()
    found = [p.first(**v) is not None for p, v in calls]
    assert found == [True, True, False, True, False, True, True]


def _terminate(pid: int) -> None:
    other = psycopg2.connect(_url())
    other.autocommit = True
    other.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
    other.close()


def _url() -> str:
    params = db.database.obj.connect_params
    host, port, user = params.get("host"), params.get("port", 5432), params.get("user")
    return f"postgresql://{user}@{host}:{port}/{db.database.obj.database}"


def test_a_new_connection_prepares_again_after_the_server_dropped_the_old(app, client, sql_log):
    # No ctx fixture: the request replaces the connection that fixture would hold.
    with app.app_context(), db.database.connection_context():
        _, secret = lifecycle.issue("pat", accounts.create_user("olive", PASSWORD), "t", scopes=[])
    with app.app_context():
        assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
        old = db.database.connection()
        _terminate(old.get_backend_pid())
        statuses = [client.get(VERIFY, headers=bearer(secret)).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        assert db.database.connection() is not old
        assert _prepares(sql_log, _lookup) == 2
        assert _held()[_name(_lookup)] == 3


def test_discard_all_outside_a_transaction_prepares_again(ctx, client, make_token, sql_log):
    _, secret = make_token()
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    db.database.connection().cursor().execute("DISCARD ALL")
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    assert _prepares(sql_log, _lookup) == 2
    assert _held() == {_name(_lookup): 1}


def test_a_lost_statement_inside_a_transaction_fails_it_and_only_it(ctx, client, make_token):
    _, secret = make_token()
    digest = credentials.digest(secret)
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    db.database.connection().cursor().execute("DISCARD ALL")
    with pytest.raises(DatabaseError), db.database.atomic():
        _lookup.first(digest=digest)
    assert db.database.connection().get_transaction_status() == 0
    assert _lookup.first(digest=digest)["kind"] == "pat"
    with pytest.raises(DatabaseError), db.database.atomic():
        assert _lookup.first(digest=digest)["kind"] == "pat"
        db.database.execute_sql("SELECT 1 / 0")
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200


def test_a_changed_column_type_prepares_again(ctx, make_user, make_project):
    owner = make_user("olive")
    make_project("billing", owner=owner)
    assert _membership.first(slug="billing", user_id=owner.id)["role"] == "owner"
    cursor = db.database.connection().cursor()
    cursor.execute("ALTER TABLE membership ALTER COLUMN role TYPE text")
    try:
        with pytest.raises(DatabaseError), db.database.atomic():
            _membership.first(slug="billing", user_id=owner.id)
        assert _membership.first(slug="billing", user_id=owner.id)["role"] == "owner"
    finally:
        cursor.execute("ALTER TABLE membership ALTER COLUMN role TYPE varchar(10)")
    assert _membership.first(slug="billing", user_id=owner.id)["role"] == "owner"


def test_a_statement_sent_with_another_is_prepared_again_when_lost(ctx, client, make_token):
    """A rate-limit claim goes as 'SET LOCAL ...; EXECUTE ...' (one implicit transaction):
    a lost statement rolls that back, is prepared again and the claim counts once."""
    credential, secret = make_token()
    credential.rate_limit = 3
    credential.save()
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    db.database.connection().cursor().execute("DISCARD ALL")
    statuses = [client.get(VERIFY, headers=bearer(secret)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert db.database.connection().get_transaction_status() == 0
    assert [w.count for w in RateWindow.select()] == [3]
