"""The bench seeding helper: valid filler secrets, N live tokens, working fixtures.

The seeding test runs on the suite's backend (TOKENAPP_TEST_BACKEND); the one
for bench.seed.postgres_database needs TOKENAPP_TEST_DATABASE_URL.
"""

import os
import secrets

import pytest

from bench import seed as seeding
from tokenapp import authcache
from tokenapp import create_app
from tokenapp import credentials
from tokenapp import db


@pytest.mark.backend_independent
def test_filler_secrets_are_valid_pats():
    for _ in range(200):
        parsed = credentials.parse(seeding.filler_secret())
        assert parsed.kind == "pat"


def _verify(client, secret: str) -> int:
    response = client.get("/api/v1/auth/verify", headers={"Authorization": f"Bearer {secret}"})
    return response.status_code


def test_seed_makes_n_live_tokens_and_working_fixtures(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path))
    fixtures = seeding.seed(tmp_path / "instance", 250, database_url)
    assert fixtures["count"] == 250
    app = create_app({"DATABASE_URL": fixtures["database_url"]})
    client = app.test_client()
    for name in ("pat", "pat_limited", "export_key", "full_key"):
        assert _verify(client, fixtures[name]) == 200, name
    # The bulk rows: their secrets verify, one as any PAT, and unknown ones do not.
    assert len(fixtures["filler_sample"]) == seeding.SAMPLE
    for secret in fixtures["filler_sample"]:
        assert _verify(client, secret) == 200
    assert _verify(client, seeding.filler_secret()) == 401
    response = client.get(
        f"/api/v1/projects/{fixtures['project']}/dashboards/{fixtures['document']}",
        headers={"Authorization": f"Bearer {fixtures['pat']}"},
    )
    assert response.status_code == 200
    assert response.get_json()["name"] == "bench"
    # The indexes and foreign keys dropped for the bulk insert are back.
    with app.app_context(), db.database.connection_context():
        assert {i.name for i in db.database.get_indexes("secret")} >= {
            "secret_digest",
            "secret_credential_id",
        }
        assert {k.column for k in db.database.get_foreign_keys("secret")} == {"credential_id"}
        assert {k.column for k in db.database.get_foreign_keys("credential")} == {
            "user_id",
            "project_id",
        }
        # So are the auth_changed triggers (tokenapp/authcache.py keeps nothing without them).
        sql, wanted = authcache.TRIGGERS[0 if db.is_sqlite() else 1]
        assert db.database.execute_sql(sql).fetchone()[0] == wanted


@pytest.mark.backend_independent  # a PostgreSQL database of its own, whichever the backend
def test_postgres_database_is_made_empty_and_dropped():
    server = os.environ.get("TOKENAPP_TEST_DATABASE_URL")
    if not server:
        pytest.skip("TOKENAPP_TEST_DATABASE_URL is unset: no PostgreSQL server")
    import psycopg2

    name = f"bench_test_{os.getpid()}_{secrets.token_hex(3)}"
    with seeding.postgres_database(server, name) as url:
        assert url.endswith(f"/{name}")
        with psycopg2.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert cursor.fetchone() == (0,)
        conn.close()
    with psycopg2.connect(server) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        assert cursor.fetchone() is None
    conn.close()


@pytest.mark.backend_independent
def test_inproc_reaches_a_local_server_through_its_socket_and_says_so(tmp_path, monkeypatch):
    from bench import inproc

    (tmp_path / ".s.PGSQL.5433").touch()
    monkeypatch.setattr(inproc, "SOCKET_DIRS", (str(tmp_path / "none"), str(tmp_path)))
    local = "postgresql://postgres@127.0.0.1:5433/db"
    assert inproc.local_socket(local) == f"{local}?host={tmp_path}"
    assert inproc.local_socket(local + "?sslmode=disable") == (
        f"{local}?sslmode=disable&host={tmp_path}"
    )
    assert inproc.local_socket("postgresql://postgres@127.0.0.1:5432/db") is None  # no socket
    assert inproc.local_socket("postgresql://postgres@db.intranet:5433/db") is None
    assert inproc.local_socket(local + f"?host={tmp_path}") is None  # chosen already
    assert [label for label, _ in inproc.transports(local, "both")] == [
        "PostgreSQL, TCP",
        f"PostgreSQL, socket {tmp_path}",
    ]
    assert inproc.transports(local, "tcp") == [("PostgreSQL, TCP", local)]


@pytest.mark.backend_independent
def test_make_bench_reaches_a_local_server_through_its_socket_and_says_so(tmp_path, monkeypatch):
    from bench import inproc
    from bench import run

    (tmp_path / ".s.PGSQL.5433").touch()
    monkeypatch.setattr(inproc, "SOCKET_DIRS", (str(tmp_path),))
    local = "postgresql://postgres@127.0.0.1:5433/bench_1_1000"
    url, line = run.pg_transport(local)
    assert url == f"{local}?host={tmp_path}"
    assert line == f"PostgreSQL transport: socket {tmp_path} ({url})."
    remote = "postgresql://postgres@db.intranet:5433/bench_1_1000"
    assert run.pg_transport(remote) == (remote, f"PostgreSQL transport: TCP ({remote}).")
