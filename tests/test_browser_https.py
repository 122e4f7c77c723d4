"""The deployment the README recommends, in a real browser, over HTTPS, twice:
gunicorn's own TLS, and nginx (deploy/nginx.conf as shipped) terminating TLS in
front of tokenapp with TOKENAPP_TRUSTED_PROXIES=127.0.0.1. Sign in, create a
project, a key and a token, sign out, as a person would. Chromium is told to
accept the self-signed certificate (ignore_https_errors).
"""

import http.client
import re
import shutil
import ssl

import pytest
from deploy_support import clean_env
from deploy_support import free_port
from https_support import NGINX
from https_support import NO_NGINX
from https_support import Nginx
from https_support import make_certificate
from https_support import shipped_site
from test_browser import ARGS
from test_browser import CHROMIUM
from test_browser import PASSWORD
from test_browser import TOKENAPP
from test_browser import Gunicorn
from test_browser import new_page
from test_browser import pytestmark  # noqa: F401  (browser, Chromium present, SQLite pass)
from test_browser import secrets_on


@pytest.fixture(scope="module")
def browser():
    """One Chromium for both deployments."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def https_origin(request, tmp_path):
    """https://127.0.0.1:PORT of tokenapp over HTTPS, as `request.param` deploys it."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = make_certificate(tmp_path)
    env = clean_env(TOKENAPP_INSTANCE_PATH=str(tmp_path / "instance"))
    if request.param == "gunicorn-tls":
        tls = ssl.create_default_context(cafile=str(cert))
        argv = [*TOKENAPP, "--certfile", str(cert), "--keyfile", str(key)]
        with Gunicorn(
            argv, env=env, cwd=tmp_path, log=tmp_path / "server.log", tls_context=tls
        ) as app:
            yield f"https://127.0.0.1:{app.port}", app, cert
        return
    if NGINX is None:
        pytest.skip(NO_NGINX)
    env["TOKENAPP_TRUSTED_PROXIES"] = "127.0.0.1"
    http_port, https_port = free_port(), free_port()
    with Gunicorn(TOKENAPP, env=env, cwd=tmp_path, log=tmp_path / "server.log") as app:
        site = shipped_site(
            app_port=app.port, http_port=http_port, https_port=https_port,
            cert=cert, key=key, logs=tmp_path,
        )  # fmt: skip
        with Nginx(site, wait_for=[http_port, https_port], keep_logs=tmp_path):
            yield f"https://127.0.0.1:{https_port}", app, cert


def verify_at(origin: str, cert, secret: str) -> int:
    """The status of /api/v1/auth/verify with `secret`, asked where the browser asks."""
    port = int(origin.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("localhost", port, timeout=15, context=context)
    try:
        conn.request("GET", "/api/v1/auth/verify", headers={"Authorization": f"Bearer {secret}"})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize("https_origin", ["gunicorn-tls", "nginx"], indirect=True)
def test_sign_in_and_out_over_https(browser, https_origin):
    origin, app, cert = https_origin
    page = new_page(browser, origin, ignore_https_errors=True)
    page.set_default_timeout(10_000)
    try:
        response = page.goto("/")
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert page.url == f"{origin}/setup"
        page.get_by_label("Setup code").fill(app.setup_code())
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Confirm").fill(PASSWORD)
        with page.expect_navigation() as setup:
            page.get_by_role("button", name="Create the administrator").click()
        # Over HTTPS a form POST needs the Referer (Flask-WTF's strict check): no-referrer
        # made this a 400 "The referrer header is missing." for every form.
        assert setup.value.status == 200, page.inner_text("body")[:300]
        assert setup.value.request.all_headers().get("referer") == f"{origin}/setup"
        session = [c for c in page.context.cookies() if c["name"] == "tokenapp_session"]
        assert session and session[0]["secure"] and session[0]["httpOnly"]

        page.get_by_label("Slug").fill("acme")
        page.get_by_label("Name").fill("Acme")
        page.get_by_role("button", name="Create project").click()
        page.get_by_role("heading", name=re.compile("Acme")).first.wait_for()  # the page loaded

        page.goto("/projects/acme/keys")
        page.get_by_label("Label").fill("deploy")
        page.get_by_label("Full access key").check()
        page.get_by_role("button", name="Create key").click()
        page.get_by_role("heading", name="Your new full access key").wait_for()
        (key,) = secrets_on(page)
        assert verify_at(origin, cert, key) == 200

        page.goto("/tokens/new")
        page.get_by_label("Note").fill("grafana")
        page.locator('input[name="scope_dashboard"][value="view"]').check()
        page.locator('input[name="expiry"][value="30"]').check()
        page.get_by_role("button", name="Create token").click()
        (token,) = secrets_on(page)
        assert verify_at(origin, cert, token) == 200

        page.goto("/tokens")
        page.get_by_role("button", name="Log out").click()
        assert page.url.startswith(f"{origin}/login")
        page.goto("/account")
        assert page.url.startswith(f"{origin}/login")  # signed out for real
        assert page.problems == []
    finally:
        page.context.close()
