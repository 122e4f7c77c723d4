"""The nginx files we ship, run by a real nginx (Debian's nginx-light) in front of
`tokenapp serve`: deploy/nginx.conf terminating TLS, and the README's auth_request
recipe (deploy/nginx-auth-request.conf) guarding a small backend.

The browser journey through the same nginx is in tests/test_browser.py.
"""

import http.client
import http.server
import json
import shutil
import ssl
import threading

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
from https_support import make_certificate
from https_support import render
from https_support import shipped_site

README = DEPLOY.parent / "README.md"
needs_nginx = pytest.mark.skipif(
    NGINX is None or shutil.which("openssl") is None,
    reason=f"{NO_NGINX}, or openssl is missing",
)


class Echo(http.server.BaseHTTPRequestHandler):
    """The protected service: answers with the X-Auth-User nginx gave it."""

    def do_GET(self):  # http.server's naming
        self._answer()

    def do_POST(self):
        self._answer()

    def _answer(self):
        body = json.dumps({"user": self.headers.get("X-Auth-User"), "path": self.path}).encode()
        self.server.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def deployment(tmp_path, database_url, backend):
    """tokenapp on loopback trusting nginx; nginx with the shipped site and, on a port
    of its own, a protected service using the shipped auth_request recipe."""
    cert, key = make_certificate(tmp_path)
    env = clean_env(
        TOKENAPP_INSTANCE_PATH=str(tmp_path / "instance"),
        TOKENAPP_DATABASE_URL=database_url,
        TOKENAPP_TRUSTED_PROXIES="127.0.0.1",
    )
    app = Server(
        [TOKENAPP, "serve", "--workers", "1"], env=env, cwd=tmp_path, log=tmp_path / "serve.log"
    )
    http_port, https_port, reports_port = free_port(), free_port(), free_port()
    app_url = f"http://127.0.0.1:{app.port}"
    recipe = render(
        DEPLOY / "nginx-auth-request.conf",
        {"http://127.0.0.1:8000": app_url, "http://reports-backend": backend_url(backend)},
    )
    site = shipped_site(
        app_port=app.port,
        http_port=http_port,
        https_port=https_port,
        cert=cert,
        key=key,
        logs=tmp_path,
    )
    reports = (
        f"server {{\n    listen 127.0.0.1:{reports_port} ssl;\n"
        f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n{recipe}\n}}\n"
    )
    nginx = Nginx(
        site + reports, wait_for=[http_port, https_port, reports_port], keep_logs=tmp_path
    )
    with app, nginx:
        yield {
            "context": ssl.create_default_context(cafile=str(cert)),
            "http": http_port,
            "https": https_port,
            "reports": reports_port,
            "nginx": nginx,
        }


def backend_url(backend) -> str:
    return f"http://127.0.0.1:{backend.server_address[1]}"


def get(port: int, path: str, *, context=None, method="GET", headers=None):
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    else:
        conn = http.client.HTTPSConnection("localhost", port, timeout=15, context=context)
    try:
        conn.request(method, path, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.mark.server
@needs_nginx
def test_shipped_config_terminates_tls_and_tokenapp_knows_it(deployment, make_token):
    _, secret = make_token(["dashboard:view"])
    https, context = deployment["https"], deployment["context"]

    status, headers, body = get(
        https, "/api/v1/auth/verify", context=context, headers=bearer(secret)
    )
    assert status == 200, body
    # HSTS comes from tokenapp, which only sends it when the trusted proxy says HTTPS.
    assert headers["Strict-Transport-Security"].startswith("max-age=")

    status, headers, _ = get(https, "/login", context=context)
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert "tokenapp_session=" in cookie and "Secure" in cookie

    status, headers, _ = get(deployment["http"], "/login")
    assert status == 301
    assert headers["Location"].startswith("https://")


@pytest.mark.server
@needs_nginx
def test_a_query_secret_stays_out_of_nginx_log(deployment, make_token):
    _, secret = make_token(["dashboard:view"])
    status, _, _ = get(
        deployment["https"], f"/api/v1/auth/verify?key={secret}", context=deployment["context"]
    )
    assert status == 200
    deployment["nginx"].stop()  # flushes and keeps the logs
    logs = (deployment["nginx"].keep_logs / "tokenapp.access.log").read_text()
    assert "GET /api/v1/auth/verify" in logs
    assert secret not in logs and secret[:12] not in logs


@pytest.mark.server
@needs_nginx
def test_auth_request_recipe(deployment, backend, make_project, make_user, make_token, make_key):
    alice = make_user("alice")
    acme = make_project("acme", owner=alice)
    _, pat = make_token(["dashboard:view"], user=alice)
    _, other_scope = make_token(["automation:view"], user=alice)
    _, stranger = make_token(["dashboard:view"])  # a user who is not in acme
    _, export = make_key(acme, alice, kind="export")
    port, context = deployment["reports"], deployment["context"]

    def ask(method="GET", **headers):
        status, _, body = get(port, "/reports/q1", context=context, method=method, headers=headers)
        return status, (json.loads(body) if status == 200 else None)

    # A valid credential: through, and the backend is told who, whatever the client claims.
    assert ask(**bearer(pat), **{"X-Auth-User": "mallory"}) == (
        200,
        {"user": "alice", "path": "/reports/q1"},
    )
    assert ask(**bearer(export)) == (200, {"user": "alice", "path": "/reports/q1"})
    reached = len(backend.seen)

    assert ask()[0] == 401  # no credential
    assert ask(**bearer(pat[:-1] + ("x" if pat[-1] != "x" else "y")))[0] == 401
    assert ask(**{"X-Auth-User": "alice"})[0] == 401
    assert ask(**bearer(other_scope))[0] == 403  # no dashboard scope
    assert ask(**bearer(stranger))[0] == 403  # not a member of acme
    assert ask("POST", **bearer(export))[0] == 403  # export keys read only
    assert len(backend.seen) == reached  # nothing refused reached the backend
    # The original method is an operation too (issue 12): a view scope does not create.
    assert ask("POST", **bearer(pat))[0] == 403
    assert len(backend.seen) == reached
    _, writer = make_token(["dashboard"], user=alice)
    assert ask("POST", **bearer(writer)) == (200, {"user": "alice", "path": "/reports/q1"})


@pytest.mark.backend_independent
def test_the_readme_shows_the_recipe_we_test():
    readme = README.read_text()
    section = readme[readme.index("## Delegating auth checks: nginx `auth_request`") :]
    shown = section.split("```nginx\n", 1)[1].split("```", 1)[0]
    shipped = (DEPLOY / "nginx-auth-request.conf").read_text()
    directives = [line for line in shipped.splitlines() if not line.lstrip().startswith("#")]
    assert shown.strip() == "\n".join(directives).strip()
