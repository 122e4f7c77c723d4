"""/metrics (issue 15): Prometheus text, parsed by prometheus_client's own parser."""

import pytest
from conftest import bearer
from deploy_support import TOKENAPP
from deploy_support import Server
from deploy_support import clean_env
from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of every sample."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(client, **kwargs) -> dict:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(response.get_data(as_text=True))


def test_counts_by_group_and_outcome_and_live_credentials(client, make_user, make_token):
    alice = make_user("alice")
    _, pat = make_token(["dashboard"], user=alice)
    make_token(["dashboard"], user=alice)
    before = scrape(client)
    for _ in range(3):
        assert client.get("/api/v1/auth/verify", headers=bearer(pat)).status_code == 200
    assert client.get("/api/v1/auth/verify").status_code == 401
    assert client.get("/api/v1/personal-access-tokens", headers=bearer(pat)).status_code == 200
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tokenapp_requests_total", group="auth", outcome="2xx") == 3
    assert delta("tokenapp_requests_total", group="auth", outcome="401") == 1
    assert delta("tokenapp_requests_total", group="tokens", outcome="2xx") == 1
    assert delta("tokenapp_auth_seconds_count", route="verify") == 4
    assert value(after, "tokenapp_live_credentials", kind="pat") == 2
    text = client.get("/metrics").get_data(as_text=True)
    assert "alice" not in text and pat not in text and pat[:12] not in text


def test_rate_limit_refusals_are_counted(client, make_token):
    token, pat = make_token(["dashboard"])
    client.patch(
        f"/api/v1/personal-access-tokens/{token.id}", json={"rate_limit": 1}, headers=bearer(pat)
    )
    before = scrape(client)
    statuses = [
        client.get("/api/v1/auth/verify", headers=bearer(pat)).status_code for _ in range(3)
    ]
    assert 429 in statuses
    after = scrape(client)
    refused = statuses.count(429)
    name = "tokenapp_rate_limited_total"
    assert value(after, name, group="auth") - value(before, name, group="auth") == refused


@pytest.fixture
def app_overrides():
    return {"METRICS_TOKEN": "a-metrics-token-for-tests"}


def test_only_loopback_or_the_metrics_token(client):
    remote = {"environ_base": {"REMOTE_ADDR": "192.0.2.7"}}
    assert client.get("/metrics", **remote).status_code == 403
    assert client.get("/metrics", headers=bearer("wrong"), **remote).status_code == 403
    assert (
        client.get("/metrics", headers=bearer("a-metrics-token-for-tests"), **remote).status_code
        == 200
    )
    # Through a proxy on the same machine that tokenapp does not trust: not loopback.
    assert client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7"}).status_code == 403
    # Whichever of the usual headers the proxy adds (nginx sends none unless told; many
    # configurations give only X-Real-IP).
    for header, value in [
        ("X-Real-IP", "192.0.2.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "tokenapp.example"),
        ("Via", "1.1 proxy"),
    ]:
        assert client.get("/metrics", headers={header: value}).status_code == 403, header
    assert client.get("/metrics").status_code == 200


@pytest.fixture
def digits_in_the_environment(monkeypatch):
    # TOKENAPP_* values are read as JSON where they look like it: these look like numbers.
    monkeypatch.setenv("TOKENAPP_METRICS_TOKEN", "20261201")
    monkeypatch.setenv("TOKENAPP_SECRET_KEY", "31415926535897932384626433832795")


@pytest.mark.parametrize("app_overrides", [{}])
def test_a_metrics_token_or_secret_key_of_digits_is_text(digits_in_the_environment, client):
    remote = {"environ_base": {"REMOTE_ADDR": "192.0.2.7"}}
    assert client.get("/metrics", headers=bearer("wrong"), **remote).status_code == 403
    assert client.get("/metrics", headers=bearer("20261201"), **remote).status_code == 200
    assert client.get("/setup").status_code == 200  # its form is signed with the key


@pytest.mark.server
def test_counters_add_up_across_two_workers(tmp_path, database_url, make_user, make_token):
    _, pat = make_token(["dashboard"], user=make_user("alice"))
    env = clean_env(TOKENAPP_INSTANCE_PATH=str(tmp_path / "i"), TOKENAPP_DATABASE_URL=database_url)
    with Server(
        [TOKENAPP, "serve", "--workers", "2"], env=env, cwd=tmp_path, log=tmp_path / "log"
    ) as server:
        # Which worker accepts a connection is the kernel's choice: ask until both have
        # answered (their files are there), so the sums below cross two processes.
        folder = tmp_path / "i" / "metrics"
        sent = 0
        while len({p.name.split("_")[-1] for p in folder.glob("serve-*/*.db")}) < 2:
            assert sent < 1000, "one worker answered every request"
            status, headers, _ = server.request("GET", "/api/v1/auth/verify", headers=bearer(pat))
            assert status == 200
            sent += 1
        for _ in range(7):
            assert server.request("GET", "/api/v1/auth/verify")[0] == 401
        # Several scrapes: whichever worker answers, the sums are the same.
        for _ in range(4):
            status, _, body = server.request("GET", "/metrics")
            assert status == 200
            found = samples(body.decode())
            assert value(found, "tokenapp_requests_total", group="auth", outcome="2xx") == sent
            assert value(found, "tokenapp_requests_total", group="auth", outcome="401") == 7
            assert value(found, "tokenapp_auth_seconds_count", route="verify") == sent + 7


@pytest.mark.server
def test_two_servers_on_one_instance_folder_keep_their_own_counts(
    tmp_path, database_url, make_user, make_token
):
    """A restart that starts the new server before stopping the old (or two nodes on one
    host) shares the instance folder: neither may wipe the other's counts, or fail to start."""
    _, pat = make_token(["dashboard"], user=make_user("alice"))
    env = clean_env(TOKENAPP_INSTANCE_PATH=str(tmp_path / "i"), TOKENAPP_DATABASE_URL=database_url)
    argv = [TOKENAPP, "serve", "--workers", "2"]
    old = Server(argv, env=env, cwd=tmp_path, log=tmp_path / "old.log")
    new = Server(argv, env=env, cwd=tmp_path, log=tmp_path / "new.log")
    with old:
        for _ in range(5):
            assert old.request("GET", "/api/v1/auth/verify", headers=bearer(pat))[0] == 200
        with new:
            assert new.request("GET", "/api/v1/auth/verify", headers=bearer(pat))[0] == 200
            for server, count in ((old, 5), (new, 1)):
                found = samples(server.request("GET", "/metrics")[2].decode())
                assert value(found, "tokenapp_auth_seconds_count", route="verify") == count
    # A folder left by a server that is gone is cleared by the next one to start.
    with Server(argv, env=env, cwd=tmp_path, log=tmp_path / "next.log") as server:
        found = samples(server.request("GET", "/metrics")[2].decode())
        assert value(found, "tokenapp_auth_seconds_count", route="verify") == 0
        assert len(list((tmp_path / "i" / "metrics").iterdir())) == 1
