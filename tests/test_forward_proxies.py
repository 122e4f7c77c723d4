"""Forward auth through real proxies: Caddy (deploy/Caddyfile.forward-auth) and nginx
(deploy/nginx-auth-request.conf) in front of a backend that records what reaches it,
tokenapp deciding from deploy/forward-rules.toml. All three files run as shipped.
"""

import http.client
import json

import pytest
from conftest import bearer
from deploy_support import TOKENAPP
from deploy_support import Server
from deploy_support import clean_env
from deploy_support import free_port
from https_support import DEPLOY
from https_support import NGINX
from https_support import NO_NGINX
from https_support import Nginx
from https_support import render
from proxy_support import CADDY
from proxy_support import NO_CADDY
from proxy_support import Backend
from proxy_support import Caddy

HOST = "reports.intranet"


def caddy_site(app_port: int, port: int, backend: int) -> str:
    return render(
        DEPLOY / "Caddyfile.forward-auth",
        {
            "reports.intranet {": f"http://:{port} {{",
            "127.0.0.1:8000": f"127.0.0.1:{app_port}",
            "reports-backend:8080": f"127.0.0.1:{backend}",
        },
    )


def nginx_site(app_port: int, port: int, backend: int) -> str:
    recipe = render(
        DEPLOY / "nginx-auth-request.conf",
        {
            # The rules file decides instead of the query (the recipe's other form).
            "/api/v1/auth/check?project=acme&scope=dashboard:view;": "/api/v1/auth/check;",
            "http://127.0.0.1:8000": f"http://127.0.0.1:{app_port}",
            "http://reports-backend": f"http://127.0.0.1:{backend}",
        },
    )
    return f"server {{\n    listen 127.0.0.1:{port};\n{recipe}\n}}\n"


def _proxy(name: str):
    missing = {"caddy": (CADDY, NO_CADDY), "nginx": (NGINX, NO_NGINX)}[name]
    return pytest.param(
        name, marks=pytest.mark.skipif(missing[0] is None, reason=missing[1]), id=name
    )


@pytest.fixture(params=[_proxy("caddy"), _proxy("nginx")])
def proxied(request, tmp_path, database_url):
    env = clean_env(
        TOKENAPP_INSTANCE_PATH=str(tmp_path / "instance"),
        TOKENAPP_DATABASE_URL=database_url,
        TOKENAPP_TRUSTED_PROXIES="127.0.0.1",
        TOKENAPP_FORWARD_RULES=str(DEPLOY / "forward-rules.toml"),
    )
    app = Server(
        [TOKENAPP, "serve", "--workers", "1"], env=env, cwd=tmp_path, log=tmp_path / "serve.log"
    )
    port = free_port()
    with app, Backend() as backend:
        if request.param == "caddy":
            proxy = Caddy(caddy_site(app.port, port, backend.port), port=port, keep_logs=tmp_path)
        else:
            site = nginx_site(app.port, port, backend.port)
            proxy = Nginx(site, wait_for=[port], keep_logs=tmp_path)
        with proxy:
            yield port, backend


@pytest.fixture
def view(make_user, make_project, make_token) -> str:
    """alice's dashboard:view token; alice owns acme, the project the rules name."""
    alice = make_user("alice")
    make_project("acme", owner=alice)
    return make_token(["dashboard:view"], user=alice)[1]


def send(port: int, method: str, path: str, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, headers={"Host": HOST, "Connection": "close", **(headers or {})})
        response = conn.getresponse()
        body = response.read()
        return response.status, (json.loads(body) if body and response.status == 200 else None)
    finally:
        conn.close()


@pytest.mark.server
def test_a_proxy_lets_through_what_the_credential_allows(
    proxied, make_user, make_project, make_token, make_key
):
    port, backend = proxied
    alice = make_user("alice")
    acme = make_project("acme", owner=alice)
    _, view = make_token(["dashboard:view"], user=alice)
    _, full = make_token(["dashboard"], user=alice)
    _, export = make_key(acme, alice, kind="export")
    _, stranger = make_token(["dashboard"])  # not a member of acme

    # A dashboard:view token: GET through, and the backend is told who (not who the client says).
    status, seen = send(port, "GET", "/reports/q1", {**bearer(view), "X-Auth-User": "mallory"})
    assert status == 200, backend.seen
    assert seen == {
        "method": "GET",
        "path": "/reports/q1",
        "user": "alice",
        "credential_type": "personal_access_token",
    }
    reached = len(backend.seen)
    assert send(port, "DELETE", "/reports/q1", bearer(view))[0] == 403
    assert send(port, "POST", "/reports/q1", bearer(view))[0] == 403
    # A client cannot name a laxer original request next to the one the proxy names.
    laxer = {"X-Forwarded-Method": "GET", "X-Original-Method": "GET", "X-Original-URI": "/"}
    assert send(port, "DELETE", "/reports/q1", {**bearer(view), **laxer})[0] == 403
    assert send(port, "GET", "/reports/../admin", bearer(view))[0] in (400, 403, 404)  # never 200
    assert send(port, "GET", "/reports/q1")[0] == 401
    assert send(port, "GET", "/reports/q1", bearer(stranger))[0] == 403
    # An export key: GET and HEAD only.
    assert send(port, "DELETE", "/reports/q1", bearer(export))[0] == 403
    assert send(port, "PUT", "/reports/q1", bearer(export))[0] == 403
    assert len(backend.seen) == reached  # nothing refused reached the backend

    assert send(port, "GET", "/reports/q2", bearer(export))[1]["credential_type"] == "export_key"
    assert send(port, "HEAD", "/reports/q2", bearer(export))[0] == 200
    assert send(port, "DELETE", "/reports/q1", bearer(full))[0] == 200
    assert [(s["method"], s["user"]) for s in backend.seen[reached:]] == [
        ("GET", "alice"),
        ("HEAD", "alice"),
        ("DELETE", "alice"),
    ]


@pytest.mark.server
def test_a_long_path_cannot_hide_where_its_dot_segments_lead(proxied, view):
    port, backend = proxied
    # Caddy passes the path on as sent; past 4,096 characters the ../ must still count.
    status, _ = send(port, "GET", "/reports/" + "a" * 4100 + "/../../admin", bearer(view))
    assert status in (403, 404)  # nginx resolves it itself: /admin has no location there
    assert backend.seen == []


@pytest.mark.server
def test_a_lower_case_method_is_not_its_upper_case_one(proxied, view):
    port, backend = proxied
    # nginx refuses the request line (400); Caddy forwards "get", which tokenapp must refuse.
    assert send(port, "get", "/reports/q1", bearer(view))[0] in (400, 403)
    assert backend.seen == []


@pytest.mark.server
def test_a_client_query_cannot_pick_the_project(proxied, make_user, make_project, make_token):
    port, backend = proxied
    make_project("acme", owner=make_user("alice"))
    mallory = make_user("mallory")
    make_project("mine", owner=mallory)  # mallory's own project, not acme
    _, token = make_token(["dashboard"], user=mallory)
    assert send(port, "GET", "/reports/q1", bearer(token))[0] == 403  # the rules: acme
    # Caddy keeps the client's query on a forward_auth uri without one of its own: the
    # check's ?project= would then be the client's choice.
    for query in ("project=mine", "project=mine&scope=dashboard", "scope=dashboard"):
        assert send(port, "GET", f"/reports/q1?{query}", bearer(token))[0] == 403, query
    assert backend.seen == []


@pytest.mark.server
def test_a_path_with_dot_segments_never_reaches_the_backend(proxied, view):
    port, backend = proxied
    # Resolved, /flows/../reports/q1 is /reports/q1; but both proxies hand the backend the
    # path as sent, and a backend that routes without resolving (werkzeug, Express) serves
    # it under /flows/. Which one the backend sees cannot be known: it is refused.
    for path in ("/flows/../reports/q1", "/flows/%2e%2e/reports/q1", "/flows/..;/reports/q1"):
        assert send(port, "GET", path, bearer(view))[0] in (400, 403, 404), path
    assert backend.seen == []
