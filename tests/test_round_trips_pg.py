"""On PostgreSQL: how many round trips each hot request makes, counted on the wire.

A round trip on loopback costs ~15-20 µs of a ~100 µs request: adding one to the
hot path must be a decision, so these pin the number (tests/pgwire_support.py
counts every message psycopg2 sends, BEGIN and COMMIT included).
"""

import pytest
from conftest import BACKEND
from conftest import bearer
from pgwire_support import WireLog

from tokenapp import db

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="counts PostgreSQL round trips: needs TOKENAPP_TEST_BACKEND=postgresql "
    "and TOKENAPP_TEST_DATABASE_URL",
)

VERIFY = "/api/v1/auth/verify"
CHECK = "/api/v1/auth/check"


@pytest.fixture
def wire(database_url):
    with WireLog(database_url) as log:
        yield log


@pytest.fixture(params=[True, False], ids=["fast path", "Flask path"])
def app_overrides(request, wire, clock):
    # A fixed clock: last_used is written once, on the first request (see the last test).
    return {"DATABASE_URL": wire.url, "FAST_PATH": request.param, "CLOCK": clock}


@pytest.fixture
def fixtures(ctx, make_user, make_project, make_token, make_key):
    from tokenapp.models import Document

    owner = make_user("olive")
    project = make_project("alpha", owner=owner)
    _, pat = make_token(["dashboard:view"], user=owner)
    _, key = make_key(project, owner, "export")
    doc = Document.create(project=project, collection="dashboards", body={"a": 1}, created_by=owner)
    return {"pat": pat, "key": key, "doc": f"/api/v1/projects/alpha/dashboards/{doc.id}"}


def _sent(wire, client, path, secret, status, **query) -> list[str]:
    """The statements one request sends, after a first one (statements prepared, last_used
    written)."""
    assert client.get(path, query_string=query, headers=bearer(secret)).status_code == status
    wire.clear()
    assert client.get(path, query_string=query, headers=bearer(secret)).status_code == status
    return wire.queries


def _executes(queries: list[str]) -> list[str]:
    return [sql.partition("(")[0] for sql in queries]


def test_verify_is_one_statement(wire, client, fixtures):
    for secret in (fixtures["pat"], fixtures["key"]):
        sent = _sent(wire, client, VERIFY, secret, 200)
        assert len(sent) == 1 and sent[0].startswith("EXECUTE "), sent


def test_a_refused_unknown_token_is_one_statement(wire, client, fixtures):
    from tokenapp import credentials

    unknown = credentials.mint("pat")
    sent = _sent(wire, client, VERIFY, unknown, 401)
    assert len(sent) == 1 and sent[0].startswith("EXECUTE "), sent


def test_check_with_project_and_scope_is_one_statement(wire, client, fixtures):
    """The membership of the project the query names comes with the secret's row."""
    sent = _sent(wire, client, CHECK, fixtures["pat"], 204, project="alpha", scope="dashboard:view")
    assert len(sent) == 1 and sent[0].startswith("EXECUTE "), sent


def test_a_document_read_is_the_lookup_and_the_document(wire, client, fixtures, app):
    """On the fast path, one statement: the secret, the membership and the document; the
    Flask path (the unusual shapes) reads the document after the lookup."""
    for path in (fixtures["doc"], fixtures["doc"][:-4] + "0000", fixtures["doc"] + "x"):
        status = 200 if path == fixtures["doc"] else 404
        sent = _sent(wire, client, path, fixtures["pat"], status)
        assert all(sql.startswith("EXECUTE ") for sql in sent), sent
        not_an_id = path.endswith("x")  # answered without reading documents
        assert len(sent) == (1 if app.config["FAST_PATH"] or not_an_id else 2), sent


def test_last_used_is_written_once_a_minute_in_one_round_trip(wire, client, clock, fixtures):
    """No BEGIN, SET, UPDATE, COMMIT exchange: the write is one message (an implicit
    transaction), and the next request of the minute writes nothing."""
    from tokenapp import credentials
    from tokenapp.models import Credential
    from tokenapp.models import Secret

    credential_id = Secret.get(Secret.digest == credentials.digest(fixtures["pat"])).credential_id
    sent = _sent(wire, client, VERIFY, fixtures["pat"], 200)
    clock.advance(minutes=1)
    wire.clear()
    assert client.get(VERIFY, headers=bearer(fixtures["pat"])).status_code == 200
    writes = wire.queries[1:]
    assert len(wire.queries) == 2 and wire.round_trips == 2, wire.queries
    assert "UPDATE" in writes[0] and "synchronous_commit" in writes[0], writes
    assert db.database.connection().get_transaction_status() == 0  # nothing left open
    assert Credential.get_by_id(credential_id).last_used == clock.now.replace(second=0)
    wire.clear()
    assert client.get(VERIFY, headers=bearer(fixtures["pat"])).status_code == 200
    assert _executes(wire.queries) == _executes(sent)


def test_a_rate_limit_claim_is_one_round_trip(wire, client, clock, fixtures):
    """A rate-limited credential claims its share of the window (limits.py) in one message
    beside the lookup: no BEGIN, SET, EXECUTE, COMMIT exchange."""
    from tokenapp.models import Credential

    Credential.update(rate_limit=2).execute()  # a lease of one request: each one claims
    sent = _sent(wire, client, VERIFY, fixtures["pat"], 200)
    assert wire.round_trips == 2 and len(sent) == 2, sent
    assert "synchronous_commit" in sent[1] and "EXECUTE" in sent[1], sent
    wire.clear()
    assert client.get(VERIFY, headers=bearer(fixtures["pat"])).status_code == 429
    assert wire.round_trips == 1  # a spent window is refused from memory
