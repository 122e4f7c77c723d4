"""Several nodes on one PostgreSQL database: nothing that must be shared lives in one process.

Two `tokenapp serve` processes (2 workers each) on different ports share a
fresh PostgreSQL database and TOKENAPP_SECRET_KEY, each with its own instance
folder, as two machines behind a load balancer would. Skipped unless
TOKENAPP_TEST_DATABASE_URL names a server (.ci/run sets it).
"""

import json
import os
import re
import secrets
import subprocess
import threading
import time
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import pytest
from conftest import bearer
from conftest import within_one_minute
from deploy_support import TOKENAPP
from deploy_support import Server
from deploy_support import clean_env

from tokenapp import setup_code

BASE_URL = os.environ.get("TOKENAPP_TEST_DATABASE_URL")
PASSWORD = "a long enough password"
TOKENS = "/api/v1/personal-access-tokens"
VERIFY = "/api/v1/auth/verify"
DOCS = "/api/v1/projects/acme/dashboards"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
JSON = {"Content-Type": "application/json"}
LOAD_THREADS = 8
LOAD_SECONDS = 10


# In-process: the setup code that `serve` prints (either backend, no server needed).


def test_serve_reuses_the_stored_setup_code(ctx):
    first = setup_code.current_setup_code()
    assert setup_code.current_setup_code() == first  # a second node, or a restart
    assert setup_code.setup_code_matches(first)


def test_setup_code_command_replaces_it(ctx):
    first = setup_code.current_setup_code()
    newer = setup_code.new_setup_code()
    assert newer != first
    assert setup_code.current_setup_code() == newer
    assert not setup_code.setup_code_matches(first) and setup_code.setup_code_matches(newer)


def test_a_node_with_another_secret_key_mints_a_new_code(ctx):
    first = setup_code.current_setup_code()
    ctx.config["SECRET_KEY"] = "another key"
    other = setup_code.current_setup_code()
    assert other != first and setup_code.setup_code_matches(other)


# Two real nodes on PostgreSQL.

# The two-node tests make a PostgreSQL database of their own whichever the test backend is,
# so they are marked backend_independent and run once, in the SQLite pass.
needs_postgres = pytest.mark.skipif(
    not BASE_URL, reason="TOKENAPP_TEST_DATABASE_URL is unset: no PostgreSQL server for two nodes"
)


def _psycopg():
    import psycopg2

    return psycopg2


@pytest.fixture(scope="module")
def fresh_database():
    name = f"tokenapp_nodes_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _psycopg().connect(BASE_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(BASE_URL)._replace(path=f"/{name}"))
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class Browser:
    """A cookie jar over one node: enough for the setup and login forms."""

    def __init__(self, node: Server, cookie: str | None = None):
        self.node, self.cookie = node, cookie

    def get(self, path):
        return self._send("GET", path)

    def post_form(self, path, fields, form_page=None):
        _, _, page = self.get(form_page or path)
        fields = dict(fields, csrf_token=CSRF.search(page.decode()).group(1))
        return self._send(
            "POST",
            path,
            body=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def _send(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        status, response_headers, data = self.node.request(method, path, body=body, headers=headers)
        for value in response_headers.get_all("Set-Cookie") or []:
            pair = value.split(";", 1)[0]
            if pair.startswith("tokenapp_session="):
                self.cookie = pair
        return status, response_headers, data


@pytest.fixture(scope="module")
def cluster(fresh_database, tmp_path_factory):
    """Nodes A and B; the first admin set up through B with the code A printed."""
    root = tmp_path_factory.mktemp("nodes")
    shared = {
        "TOKENAPP_DATABASE_URL": fresh_database,
        "TOKENAPP_SECRET_KEY": secrets.token_hex(32),
        "TOKENAPP_BCRYPT_ROUNDS": "4",
    }
    nodes = []
    try:
        for name in ("a", "b"):
            env = clean_env(TOKENAPP_INSTANCE_PATH=str(root / name), **shared)
            node = Server(
                [TOKENAPP, "serve", "--workers", "2"], env=env, cwd=root, log=root / f"{name}.log"
            )
            nodes.append(node)
            node.start()
        a, b = nodes
        facts = {"code_a": a.setup_code(), "code_b": b.setup_code()}
        setup = Browser(b).post_form(
            "/setup",
            {
                "code": facts["code_a"],
                "username": "admin",
                "password": PASSWORD,
                "confirm": PASSWORD,
            },
        )
        facts["setup_status"] = setup[0]
        facts["env"] = clean_env(TOKENAPP_INSTANCE_PATH=str(root / "cli"), **shared)
        _cli(facts["env"], "project", "create", "acme", "--owner", "admin")
        facts["pat"] = _cli(
            facts["env"],
            *("token", "create", "--user", "admin", "--note", "nodes", "--scope", "dashboard"),
            *("--expiration", "never"),
        )
        yield a, b, facts
    finally:
        for node in nodes:
            node.stop()


def _cli(env, *args) -> str:
    result = subprocess.run(
        [TOKENAPP, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _json(node, method, path, secret, payload=None):
    body = None if payload is None else json.dumps(payload)
    headers = {**bearer(secret), **(JSON if body else {})}
    status, _, data = node.request(method, path, body=body, headers=headers)
    return status, (json.loads(data) if data else None)


@pytest.mark.backend_independent
@needs_postgres
def test_a_setup_code_printed_by_node_a_is_accepted_by_node_b(cluster):
    a, b, facts = cluster
    assert facts["code_a"] and facts["code_a"] == facts["code_b"]
    assert facts["setup_status"] == 302
    for node in (a, b):
        assert node.request("GET", "/setup")[0] == 302  # closed on every node


@pytest.mark.backend_independent
@needs_postgres
def test_a_session_from_node_b_is_valid_on_node_a(cluster):
    a, b, _ = cluster
    on_b = Browser(b)
    assert on_b.post_form("/login", {"username": "admin", "password": PASSWORD})[0] == 302
    on_a = Browser(a, on_b.cookie)
    status, _, page = on_a.get("/account")
    assert status == 200 and b"admin" in page


@pytest.mark.backend_independent
@needs_postgres
def test_revoked_or_regenerated_through_a_is_refused_by_b(cluster):
    a, b, facts = cluster
    status, token = _json(
        a, "POST", TOKENS, facts["pat"], {"expiration": None, "scopes": ["dashboard"], "note": "x"}
    )
    assert status == 201
    assert _json(b, "GET", VERIFY, token["token"])[0] == 200

    status, regenerated = _json(
        a, "POST", f"{TOKENS}/{token['id']}/regenerate", facts["pat"], {"expiration": None}
    )
    assert status == 200
    assert _json(b, "GET", VERIFY, token["token"])[0] == 401  # the old secret, at once
    assert _json(b, "GET", VERIFY, regenerated["token"])[0] == 200

    assert _json(a, "DELETE", f"{TOKENS}/{token['id']}", facts["pat"])[0] == 204
    assert _json(b, "GET", VERIFY, regenerated["token"])[0] == 401


@pytest.mark.backend_independent
@needs_postgres
def test_a_rate_limit_holds_across_both_nodes(cluster):
    # Two nodes × two workers: four processes, each leasing from the shared count.
    a, b, facts = cluster
    secrets_by_limit = {}
    for limit in (6, 64):
        payload = {"expiration": None, "scopes": ["dashboard"], "note": "rl", "rate_limit": limit}
        status, token = _json(a, "POST", TOKENS, facts["pat"], payload)
        assert status == 201
        secrets_by_limit[limit] = token["token"]
    within_one_minute()
    exact = [
        (node.request("GET", VERIFY, headers=bearer(secrets_by_limit[6]))) for node in [a, b] * 5
    ]
    leased = [
        node.request("GET", VERIFY, headers=bearer(secrets_by_limit[64]))[0] for node in [a, b] * 64
    ]
    assert [status for status, _, _ in exact] == [200] * 6 + [429] * 4
    assert [h["RateLimit-Remaining"] for _, h, _ in exact[:6]] == ["5", "4", "3", "2", "1", "0"]
    assert 64 - 4 * (64 // 16) <= leased.count(200) <= 64, leased
    assert leased.count(200) + leased.count(429) == 128


@pytest.mark.backend_independent
@needs_postgres
def test_a_document_written_through_a_is_read_through_b(cluster):
    a, b, facts = cluster
    status, doc = _json(a, "POST", DOCS, facts["pat"], {"name": "revenue", "widgets": [1, 2]})
    assert status == 201
    status, read = _json(b, "GET", f"{DOCS}/{doc['id']}", facts["pat"])
    assert status == 200 and read["name"] == "revenue" and read["widgets"] == [1, 2]


@pytest.mark.backend_independent
@needs_postgres
def test_concurrent_load_over_both_nodes_loses_nothing(cluster):
    a, b, facts = cluster
    nodes = (a, b)
    results = {"docs": [], "revoked": [], "statuses": [], "errors": []}
    lock = threading.Lock()
    deadline = time.monotonic() + LOAD_SECONDS

    def work(index: int) -> None:
        step = 0
        try:
            while time.monotonic() < deadline:
                here, there = nodes[(index + step) % 2], nodes[(index + step + 1) % 2]
                step += 1
                seen = []
                status, doc = _json(here, "POST", DOCS, facts["pat"], {"t": index, "s": step})
                seen.append(status)
                if status == 201:
                    with lock:
                        results["docs"].append((doc["id"], index, step))
                    seen.append(_json(there, "GET", f"{DOCS}/{doc['id']}", facts["pat"])[0])
                if step % 3 == 0:
                    payload = {"expiration": 1, "scopes": ["dashboard:view"], "note": "load"}
                    status, token = _json(here, "POST", TOKENS, facts["pat"], payload)
                    seen.append(status)
                    if status == 201:
                        path = f"{TOKENS}/{token['id']}"
                        status, new = _json(
                            there, "POST", f"{path}/regenerate", facts["pat"], {"expiration": 1}
                        )
                        seen.append(status)
                        seen.append(_json(here, "GET", VERIFY, token["token"])[0])  # old: 401
                        seen.append(_json(here, "DELETE", path, facts["pat"])[0])
                        with lock:
                            results["revoked"] += [token["token"], new and new.get("token")]
                with lock:
                    results["statuses"] += seen
        except Exception as exc:  # reported below
            with lock:
                results["errors"].append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 60)
    statuses = results["statuses"]
    print(f"{len(statuses)} requests, {len(results['docs'])} documents over two nodes")
    assert not results["errors"], results["errors"][:5]
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 201, 204, 401}, sorted(set(statuses))
    assert statuses.count(401) == len(results["revoked"]) // 2  # exactly the old secrets
    assert len(results["docs"]) > 20

    # Nothing lost: every 201'd document readable from both nodes, every revoked secret refused.
    written = {doc_id: (index, step) for doc_id, index, step in results["docs"]}
    for node in nodes:
        items = _all_documents(node, facts["pat"])
        stored = {item["id"]: (item.get("t"), item.get("s")) for item in items}
        assert len(stored) == len(items)  # no duplicates either
        assert {k: v for k, v in stored.items() if k in written} == written
    for secret in filter(None, results["revoked"]):
        for node in nodes:
            assert _json(node, "GET", VERIFY, secret)[0] == 401


def _all_documents(node, secret) -> list[dict]:
    items, cursor = [], "0"
    for _ in range(1000):
        status, page = _json(node, "GET", f"{DOCS}?limit=100&cursor={cursor}", secret)
        assert status == 200
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("too many pages")


@pytest.mark.backend_independent
@needs_postgres
def test_login_throttling_counts_failures_on_every_node(cluster):
    """Last in the module: it throttles 127.0.0.1 for the rest of the window."""
    a, b, _ = cluster
    wrong = {"username": "nobody", "password": "wrong password!"}
    statuses = [Browser(node).post_form("/login", wrong)[0] for node in (a, b, a, b, a)]
    assert 429 not in statuses, statuses
    assert Browser(b).post_form("/login", wrong)[0] == 429
    assert Browser(a).post_form("/login", wrong)[0] == 429


@needs_postgres
def test_revocations_reach_every_worker_through_the_fast_path(cluster):
    """A service account's key, a member's key and a token read documents through the fast
    path on both nodes (two workers each); removal and revocation stop them on the next
    request everywhere."""
    a, b, facts = cluster
    env = facts["env"]
    every = ["automation", "company", "connector_auth", "connectors", "dashboard", "embed"]
    scopes = [arg for scope in every for arg in ("--scope", scope)]
    admin = _cli(env, "token", "create", "--user", "admin", "--note", "owner", *scopes,
                 "--expiration", "never")  # fmt: skip
    members = "/api/v1/projects/acme/users"
    status, _ = _json(a, "POST", members, admin,
                      {"username": "ci", "role": "editor", "service_account": True})  # fmt: skip
    assert status == 201
    status, key = _json(a, "POST", "/api/v1/projects/acme/keys", admin,
                        {"kind": "full", "label": "ci", "user": "ci@acme"})  # fmt: skip
    assert status == 201, key
    status, doc = _json(a, "POST", DOCS, facts["pat"], {"name": "fast"})
    assert status == 201
    read = f"{DOCS}/{doc['id']}"
    for node in (a, b) * 4:
        assert _json(node, "GET", read, key["key"])[0] == 200
    assert _json(b, "DELETE", f"{members}/ci%40acme", admin)[0] == 204
    for node in (a, b) * 4:
        assert [_json(node, "GET", path, key["key"])[0] for path in (read, VERIFY)] == [401, 401]

    # A person: removal from the project stops their key, deactivation their token.
    subprocess.run([TOKENAPP, "create-user", "bea", "--password-stdin"], env=env, input=PASSWORD,
                   capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    _cli(env, "project", "add-member", "acme", "bea", "--role", "editor")
    bea_key = _cli(env, "key", "create", "acme", "--user", "bea", "--kind", "full")
    bea_pat = _cli(env, "token", "create", "--user", "bea", "--note", "n", "--scope", "dashboard",
                   "--expiration", "never")  # fmt: skip
    for node in (a, b) * 4:
        assert [_json(node, "GET", read, secret)[0] for secret in (bea_key, bea_pat)] == [200, 200]
    assert _json(a, "DELETE", f"{members}/bea", admin)[0] == 204
    for node in (a, b) * 4:
        assert [_json(node, "GET", read, secret)[0] for secret in (bea_key, bea_pat)] == [401, 404]
        assert _json(node, "GET", VERIFY, bea_pat)[0] == 200
    _cli(env, "user", "deactivate", "bea")
    for node in (a, b) * 4:
        assert _json(node, "GET", VERIFY, bea_pat)[0] == 401


@needs_postgres
def test_a_dropped_connection_or_an_altered_column_is_no_500(cluster, fresh_database):
    """Every worker keeps its connection and the statements prepared on it: a backend
    the server terminated, or a migration changing a selected column's type while the
    nodes run, costs no request a 500."""
    a, b, facts = cluster
    status, doc = _json(a, "POST", DOCS, facts["pat"], {"name": "kept"})
    read = f"{DOCS}/{doc['id']}"
    for node in (a, b) * 8:  # every worker prepares its statements
        assert _json(node, "GET", read, facts["pat"])[0] == 200
    admin = _psycopg().connect(fresh_database)
    admin.autocommit = True
    cur = admin.cursor()
    try:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert [_json(node, "GET", read, facts["pat"])[0] for node in (a, b) * 8] == [200] * 16
        for width in (100, 64):  # wider, then back
            cur.execute(f'ALTER TABLE "user" ALTER COLUMN username TYPE varchar({width})')
            statuses = [_json(node, "GET", path, facts["pat"])[0]
                        for node in (a, b) * 8 for path in (read, VERIFY)]  # fmt: skip
            assert statuses == [200] * 32
    finally:
        admin.close()
