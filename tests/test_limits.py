"""Per-credential limits: rate limits (database, Redis, across workers) and IP allowlists."""

import http.client
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest
from conftest import assert_problem
from conftest import bearer
from conftest import within_one_minute

from tokenapp import lifecycle
from tokenapp import limits
from tokenapp.models import RateWindow

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def limited(ctx, clock, make_token):
    """A PAT limited to 3 requests per minute, on the test clock."""
    ctx.config["CLOCK"] = clock
    credential, secret = make_token(["dashboard"])
    lifecycle.update(credential, rate_limit=3)
    return credential, secret


def _redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


def _spend(client, secret, times):
    return [client.get(VERIFY, headers=bearer(secret)) for _ in range(times)]


def test_fourth_request_in_a_minute_is_429_with_ratelimit_headers(client, limited):
    _, secret = limited
    responses = _spend(client, secret, 4)
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    body = assert_problem(responses[3], 429)
    assert body["type"].endswith("rate-limited")
    refused = responses[3].headers
    assert refused["RateLimit-Limit"] == "3"
    assert refused["Retry-After"] == "60"
    assert refused["RateLimit-Reset"] == "60"


def test_retry_after_counts_down_to_the_end_of_the_minute(client, limited, clock):
    _, secret = limited
    clock.advance(seconds=45)
    responses = _spend(client, secret, 4)
    assert responses[3].status_code == 429
    assert responses[3].headers["Retry-After"] == "15"


def test_the_next_minute_is_allowed_again(client, limited, clock):
    _, secret = limited
    assert _spend(client, secret, 4)[-1].status_code == 429
    clock.advance(minutes=1)
    responses = _spend(client, secret, 3)
    assert [r.status_code for r in responses] == [200, 200, 200]


def test_old_windows_are_removed_when_a_new_one_starts(client, limited, clock):
    credential, secret = limited
    _spend(client, secret, 2)
    clock.advance(minutes=5)
    _spend(client, secret, 1)
    starts = [
        row.window_start
        for row in RateWindow.select().where(RateWindow.credential == credential.id)
    ]
    assert starts == [clock.now.replace(second=0)]


def test_a_spent_window_refuses_from_memory_without_counting(client, limited):
    credential, secret = limited
    _spend(client, secret, 4)
    counted = RateWindow.get(RateWindow.credential == credential.id).count
    assert [r.status_code for r in _spend(client, secret, 5)] == [429] * 5
    assert RateWindow.get(RateWindow.credential == credential.id).count == counted == 3


def test_a_large_limit_is_leased_in_shares_not_written_per_request(client, ctx, clock, make_token):
    ctx.config["CLOCK"] = clock
    credential, secret = make_token(["dashboard"])
    lifecycle.update(credential, rate_limit=1600)
    responses = _spend(client, secret, 10)
    assert [r.headers["RateLimit-Remaining"] for r in responses] == [
        str(1600 - n) for n in range(1, 11)
    ]
    # One claim of 1600/16 = 100 covers the ten requests.
    assert RateWindow.get(RateWindow.credential == credential.id).count == 100


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("limit", "counted", "want"),
    [(3, 0, 1), (1600, 0, 100), (1600, 1590, 1), (10**6, 0, limits.LEASE_MAX), (40, 8, 2)],
)
def test_lease_size_shrinks_to_one_near_the_limit(clock, limit, counted, want, monkeypatch):
    claims = []

    def claim(credential_id, start, amount):
        claims.append(amount)
        return counted + amount

    monkeypatch.setattr(limits, "claim", claim)
    credential_id = uuid.uuid4()
    start = clock.now.replace(second=0)
    limits._leases[credential_id] = limits._Lease(start, limit, counted=counted)
    assert limits.take(credential_id, limit, start) == (True, limit - counted - 1)
    assert claims == [want]


@pytest.mark.backend_independent
def test_a_lease_beyond_the_limit_grants_only_what_remains(clock, monkeypatch):
    # Another worker took 98 of 100 since this one last asked: a claim of 6 grants 2.
    monkeypatch.setattr(limits, "claim", lambda credential_id, start, amount: 98 + amount)
    credential_id = uuid.uuid4()
    start = clock.now.replace(second=0)
    results = [limits.take(credential_id, 100, start) for _ in range(3)]
    assert results == [(True, 1), (True, 0), (False, 0)]


def test_unlimited_credential_has_no_ratelimit_headers_and_no_counter(client, ctx, make_token):
    credential, secret = make_token(["dashboard"])
    responses = _spend(client, secret, 5)
    assert all(r.status_code == 200 for r in responses)
    assert "RateLimit-Limit" not in responses[0].headers
    assert not RateWindow.select().where(RateWindow.credential == credential.id).exists()


def test_project_keys_are_rate_limited_too(client, ctx, clock, make_user, make_project, make_key):
    ctx.config["CLOCK"] = clock
    owner = make_user()
    project = make_project(owner=owner)
    for kind in ("export", "full"):
        credential, secret = make_key(project, owner, kind)
        lifecycle.update(credential, rate_limit=2)
        statuses = [r.status_code for r in _spend(client, secret, 3)]
        assert statuses == [200, 200, 429], kind


def test_429_is_refused_before_the_route_runs(client, limited):
    credential, secret = limited
    _spend(client, secret, 3)
    response = client.delete(
        f"/api/v1/personal-access-tokens/{credential.id}", headers=bearer(secret)
    )
    assert_problem(response, 429)
    credential = type(credential).get_by_id(credential.id)
    assert credential.revoked_at is None


@pytest.mark.skipif(not _redis_reachable(), reason="no Redis on 127.0.0.1:6379")
def test_redis_backend_counts_the_same(client, limited, clock, monkeypatch):
    credential, secret = limited
    client.application.config["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    database_hits = []
    monkeypatch.setattr(limits, "_claim_database", lambda *a: database_hits.append(a) or 0)
    responses = _spend(client, secret, 4)
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[3].headers["Retry-After"] == "60"
    clock.advance(minutes=1)
    assert _spend(client, secret, 1)[0].status_code == 200
    assert database_hits == []
    import redis

    key = limits.REDIS_KEY.format(credential=credential.id, window=clock.now.replace(second=0))
    assert 0 < redis.Redis.from_url("redis://127.0.0.1:6379/0").ttl(key) <= 120


def test_unreachable_redis_falls_back_to_the_database(client, limited):
    _, secret = limited
    client.application.config["REDIS_URL"] = f"redis://127.0.0.1:{_free_port()}/0"
    responses = _spend(client, secret, 4)
    assert [r.status_code for r in responses] == [200, 200, 200, 429]


def test_rate_limit_is_set_and_cleared_through_the_api(client, limited, make_token):
    credential, limited_secret = limited
    # Limits only tighten from the limited token itself (issue 12): an unlimited
    # token of the same user sets and clears them.
    _, secret = make_token(["dashboard"], user=credential.user)
    path = f"/api/v1/personal-access-tokens/{credential.id}"
    refused = client.patch(path, json={"rate_limit": 100}, headers=bearer(limited_secret))
    assert assert_problem(refused, 403)["refused_by"] == "limits"
    response = client.patch(path, json={"rate_limit": 100}, headers=bearer(secret))
    assert response.status_code == 200
    assert response.get_json()["rate_limit"] == 100
    for bad in (0, -1, "5", 1.5, True):
        assert_problem(
            client.patch(path, json={"rate_limit": bad}, headers=bearer(secret)),
            422,
            field="rate_limit",
        )
    response = client.patch(path, json={"rate_limit": None}, headers=bearer(secret))
    assert response.get_json()["rate_limit"] is None
    assert "RateLimit-Limit" not in client.get(VERIFY, headers=bearer(limited_secret)).headers


def test_token_created_with_a_rate_limit_is_limited(client, limited):
    _, secret = limited
    response = client.post(
        "/api/v1/personal-access-tokens",
        json={"expiration": 30, "scopes": ["dashboard"], "note": "ci", "rate_limit": 1},
        headers=bearer(secret),
    )
    new = response.get_json()["token"]
    assert [r.status_code for r in _spend(client, new, 2)] == [200, 429]


# IP allowlists: the caller's address (REMOTE_ADDR, or X-Forwarded-For from a
# trusted proxy) must fall in one of the credential's CIDRs.


def _from(client, address, secret):
    return client.get(
        VERIFY,
        headers=bearer(secret),
        base_url="https://tokenapp.test",
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.mark.parametrize(
    ("allowlist", "address", "allowed"),
    [
        (["10.0.0.0/8"], "10.1.2.3", True),
        (["10.0.0.0/8"], "192.168.1.1", False),
        (["192.168.1.7/32", "10.0.0.0/8"], "192.168.1.7", True),
        (["192.168.1.7/32"], "192.168.1.8", False),
        (["2001:db8::/32"], "2001:db8::1", True),
        (["2001:db8::/32"], "10.1.2.3", False),
    ],
)
def test_ip_allowlist(client, ctx, make_token, allowlist, address, allowed):
    credential, secret = make_token(["dashboard"])
    lifecycle.update(credential, ip_allowlist=allowlist)
    response = _from(client, address, secret)
    if allowed:
        assert response.status_code == 200
    else:
        body = assert_problem(response, 403)
        assert body["type"].endswith("address-not-allowed")


def test_ip_allowlist_is_set_through_the_api(client, ctx, make_token):
    credential, secret = make_token(["dashboard"])
    path = f"/api/v1/personal-access-tokens/{credential.id}"
    bad = client.patch(path, json={"ip_allowlist": ["10.0.0.0/33"]}, headers=bearer(secret))
    assert_problem(bad, 422, field="ip_allowlist")
    response = client.patch(path, json={"ip_allowlist": ["10.0.0.0/8"]}, headers=bearer(secret))
    assert response.get_json()["ip_allowlist"] == ["10.0.0.0/8"]
    assert _from(client, "10.9.9.9", secret).status_code == 200
    assert_problem(_from(client, "172.16.0.1", secret), 403)


def test_ip_allowlist_uses_the_forwarded_address_only_from_a_trusted_proxy(app, ctx, make_token):
    credential, secret = make_token(["dashboard"])
    lifecycle.update(credential, ip_allowlist=["10.0.0.0/8"])
    proxy = {"X-Forwarded-For": "10.1.1.1", "X-Forwarded-Proto": "https"}
    untrusted = app.test_client().get(
        VERIFY, headers={**bearer(secret), **proxy}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    assert_problem(untrusted, 403)


# Across gunicorn workers: the database counter is the one every worker shares.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:  # closed here: a keep-alive server (gthread) leaves it open
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not start in 30 s")


def _fresh_request(port: int, secret: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", VERIFY, headers={**bearer(secret), "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status, response.headers.get("RateLimit-Remaining")
    finally:
        conn.close()


@pytest.mark.server
def test_limit_holds_across_two_gunicorn_workers(app, ctx, make_token, database_url, tmp_path):
    # 5: leases of one request, exact. 64: leases of up to 4 per worker, so the
    # workers together may refuse up to 2 × 4 early, and never admit beyond 64.
    small, large = 5, 64
    exact_credential, exact = make_token(["dashboard"])
    lifecycle.update(exact_credential, rate_limit=small)
    leased_credential, leased = make_token(["dashboard"])
    lifecycle.update(leased_credential, rate_limit=large)
    port = _free_port()
    env = dict(
        os.environ,
        TOKENAPP_INSTANCE_PATH=str(tmp_path / "instance"),
        TOKENAPP_DATABASE_URL=database_url,
    )
    env.pop("TOKENAPP_REDIS_URL", None)
    tokenapp = os.path.join(os.path.dirname(sys.executable), "tokenapp")
    process = subprocess.Popen(
        [tokenapp, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port, process)
        # All requests must fall in one minute of the server's clock.
        within_one_minute()
        results = [_fresh_request(port, exact) for _ in range(2 * small)]
        many = [_fresh_request(port, leased)[0] for _ in range(2 * large)]
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()
    statuses = [status for status, _ in results]
    assert statuses == [200] * small + [429] * small, results
    assert [remaining for _, remaining in results[:small]] == ["4", "3", "2", "1", "0"]
    assert set(many) == {200, 429}
    assert large - 2 * (large // limits.LEASE_SHARE) <= many.count(200) <= large, many
