"""/auth/check for every proxy: the original request from nginx's X-Original-* or
Caddy/Traefik's X-Forwarded-*, and the rules file (host + path + method -> project
+ scope). The real Caddy and nginx in front of a backend: tests/test_forward_proxies.py.
"""

import pytest
from conftest import bearer

CHECK = "/api/v1/auth/check"
RULES = """
[[rule]]
host = "reports.intranet"
path = "/reports/"
methods = ["GET", "HEAD"]
project = "acme"
scope = "dashboard:view"

[[rule]]
host = "reports.intranet"
path = "/reports/"
project = "acme"
scope = "dashboard"

[[rule]]
path = "/flows"
project = "acme"
scope = "automation:view"
"""


@pytest.fixture
def app_overrides(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    return {"FORWARD_RULES": str(rules)}


@pytest.fixture
def acme(make_user, make_project):
    alice = make_user("alice")
    return alice, make_project("acme", owner=alice)


def forwarded(method: str, uri: str, host: str = "reports.intranet") -> dict:
    return {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri, "X-Forwarded-Host": host}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_export_key_refused_writes_named_by_x_forwarded_method(client, acme, make_key, method):
    alice, project = acme
    _, export = make_key(project, alice, kind="export")
    url = f"{CHECK}?project=acme&scope=dashboard:view"
    assert (
        client.get(url, headers={**bearer(export), "X-Forwarded-Method": "GET"}).status_code == 204
    )
    response = client.get(url, headers={**bearer(export), "X-Forwarded-Method": method})
    assert response.status_code == 403
    assert response.json["refused_by"] == "read_only"


def test_answers_with_the_headers_proxies_copy(client, acme, make_token):
    alice, _ = acme
    token, secret = make_token(["dashboard:view"], user=alice)
    response = client.get(CHECK, headers={**bearer(secret), **forwarded("GET", "/reports/q1")})
    assert response.status_code == 204
    assert response.headers["X-Auth-User"] == "alice"
    assert response.headers["X-Auth-Credential"] == str(token.id)
    assert response.headers["X-Auth-Credential-Type"] == "personal_access_token"


def test_rules_pick_project_and_scope_from_host_path_and_method(client, acme, make_token):
    alice, _ = acme
    _, view = make_token(["dashboard:view"], user=alice)
    _, full = make_token(["dashboard"], user=alice)
    _, flows = make_token(["automation:view"], user=alice)

    def ask(secret, method, uri, host="reports.intranet"):
        return client.get(CHECK, headers={**bearer(secret), **forwarded(method, uri, host)})

    assert ask(view, "GET", "/reports/q1?x=1").status_code == 204
    assert ask(view, "HEAD", "/reports/").status_code == 204
    assert ask(view, "DELETE", "/reports/q1").status_code == 403  # the second rule: dashboard
    assert ask(full, "DELETE", "/reports/q1").status_code == 204
    assert ask(view, "GET", "/reports/q1", host="other.intranet").status_code == 403  # no rule
    assert ask(view, "GET", "/reportsx").status_code == 403  # a prefix ends at a segment
    assert ask(flows, "GET", "/flows/7", host="any.intranet").status_code == 204
    assert ask(view, "GET", "/flows/7").status_code == 403
    # nginx's family works the same, without a host (the rule with no host matches).
    nginx = {"X-Original-Method": "GET", "X-Original-URI": "/flows/1"}
    assert client.get(CHECK, headers={**bearer(flows), **nginx}).status_code == 204


def _viewer_gets(client, acme, make_token, uri: str):
    """check for a GET of `uri` behind the proxy, with alice's dashboard:view token."""
    _, view = make_token(["dashboard:view"], user=acme[0])
    return client.get(CHECK, headers={**bearer(view), **forwarded("GET", uri)})


@pytest.mark.parametrize(
    "uri",
    [
        "/reports/../flows/1",
        "/reports/%2e%2e/flows/1",
        "/reports%2F..%2Fflows/1",
        "//reports/../flows/1",
        "/reports/./../flows/1",
    ],
)
def test_a_path_is_matched_as_the_backend_will_see_it(client, acme, make_token, uri):
    # Each names /flows/1 in the end: the dashboard rule must not let it through.
    assert _viewer_gets(client, acme, make_token, uri).status_code == 403


def test_a_long_uri_is_matched_whole(client, acme, make_token):
    alice, _ = acme
    _, view = make_token(["dashboard:view"], user=alice)
    # Past 4,096 characters the ../ still leads to /flows/1, as it will for the backend.
    uri = "/reports/" + "a" * 4100 + "/../../flows/1"
    response = client.get(CHECK, headers={**bearer(view), **forwarded("GET", uri)})
    assert response.status_code == 403
    # A long query is no part of the path.
    long_query = "/reports/q1?" + "x" * 5000 + "/../../flows/1"
    assert (
        client.get(CHECK, headers={**bearer(view), **forwarded("GET", long_query)}).status_code
        == 204
    )


@pytest.mark.parametrize("method", ["get", "Get", "head", "delete"])
def test_a_method_is_named_exactly_as_http_spells_it(client, acme, make_token, method):
    # Methods are case-sensitive (RFC 9110 9.1): Caddy passes "get" on to the backend, for
    # which it is not GET (a handler's `if method == "GET"` takes its other branch).
    alice, _ = acme
    _, view = make_token(["dashboard:view"], user=alice)
    by_rules = client.get(CHECK, headers={**bearer(view), **forwarded(method, "/reports/q1")})
    assert by_rules.status_code == 403 and by_rules.json["refused_by"] == "method"
    url = f"{CHECK}?project=acme&scope=dashboard:view"
    by_query = client.get(url, headers={**bearer(view), "X-Original-Method": method})
    assert by_query.status_code == 403 and by_query.json["refused_by"] == "method"


@pytest.mark.parametrize(
    "query", ["project=mine", "scope=dashboard", "project=mine&scope=dashboard"]
)
def test_a_check_query_that_is_the_original_requests_own_is_refused(
    client, acme, make_user, make_project, make_token, query
):
    # A proxy that passes the client's query on to the check (Caddy with a forward_auth
    # uri without "?") would let the client choose the project and scope over the rules.
    mallory = make_user("mallory")
    make_project("mine", owner=mallory)
    _, token = make_token(["dashboard"], user=mallory)
    headers = {**bearer(token), **forwarded("GET", f"/reports/q1?{query}")}
    response = client.get(f"{CHECK}?{query}", headers=headers)
    assert response.status_code == 403 and response.json["refused_by"] == "original"
    # The proxy's own query (nginx's proxy_pass URI) still decides beside the client's.
    alice, _ = acme
    _, view = make_token(["dashboard:view"], user=alice)
    headers = {**bearer(view), **forwarded("GET", "/reports/q1?page=2")}
    assert (
        client.get(f"{CHECK}?project=acme&scope=dashboard:view", headers=headers).status_code == 204
    )


@pytest.mark.parametrize(
    "uri",
    [
        "/flows/../reports/q1",
        "/flows/%2e%2e/reports/q1",
        "/flows%2F..%2Freports/q1",
        "/flows/..;/reports/q1",
        "/flows/..\\reports/q1",
        "/reports/./q1",
        "http://reports.intranet/flows/../reports/q1",
    ],
)
def test_a_path_with_dot_segments_is_refused(client, acme, make_token, uri):
    # Resolved, each is /reports/q1 (the dashboard:view rule); a backend that routes without
    # resolving (werkzeug, Express; nginx and Caddy pass the path on as sent) serves it
    # under /flows/. What the backend will see cannot be known: refused.
    response = _viewer_gets(client, acme, make_token, uri)
    assert response.status_code == 403
    assert response.json["refused_by"] == "original"


def test_a_client_cannot_add_the_other_family_to_pick_a_laxer_answer(
    client, acme, make_key, make_token
):
    alice, project = acme
    _, export = make_key(project, alice, kind="export")
    _, view = make_token(["dashboard:view"], user=alice)
    # nginx sets X-Original-*, and passes on a client's X-Forwarded-*: every method must pass.
    both = {"X-Original-Method": "DELETE", "X-Forwarded-Method": "GET"}
    url = f"{CHECK}?project=acme&scope=dashboard:view"
    assert client.get(url, headers={**bearer(export), **both}).status_code == 403
    headers = {**forwarded("GET", "/reports/q1"), "X-Original-URI": "/flows/1"}
    response = client.get(CHECK, headers={**bearer(view), **headers})
    assert response.status_code == 403
    assert response.json["refused_by"] == "original"


def test_without_a_uri_no_rule_matches(client, acme, make_token):
    alice, _ = acme
    _, view = make_token(["dashboard:view"], user=alice)
    assert client.get(CHECK, headers=bearer(view)).status_code == 403
    # The query still decides when it names the project or scope.
    assert (
        client.get(f"{CHECK}?project=acme&scope=dashboard:view", headers=bearer(view)).status_code
        == 204
    )


@pytest.mark.backend_independent
def test_a_bad_rules_file_stops_the_app_with_its_name(tmp_path, monkeypatch):
    from tokenapp import create_app
    from tokenapp.config import ImproperlyConfigured

    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    bad = tmp_path / "bad.toml"
    for text in [
        "[[rule]]\npath = '/x'\n",
        "[[rule]]\nproject = 'a'\nmethods = ['FETCH']\n",
        "x = 1",
    ]:
        bad.write_text(text)
        with pytest.raises(ImproperlyConfigured, match="bad.toml"):
            create_app({"FORWARD_RULES": str(bad), "DATABASE_URL": "sqlite://"})
