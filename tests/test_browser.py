"""The whole journey in a real browser: Debian's Chromium driven by Playwright,
against `tokenapp serve` (gunicorn, 2 workers) on a fresh SQLite instance.

The same journey over HTTPS, as the README deploys it, is in test_browser_https.py.

Screenshots go to test-artifacts/ (the key page and the token pages).
"""

import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deploy_support import Server
from deploy_support import clean_env

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "correct horse battery staple"
SECRET = re.compile(r"tk[efp]_[0-9A-Za-z]{36}")

# Two clicks 300 ms apart, like an impatient user; a script, as Playwright's own clicks would
# wait for the first response, which hold_posts() keeps back.
DOUBLE_CLICK = """async (name) => {
  const button = [...document.querySelectorAll("button")]
    .find((b) => b.textContent.trim() === name);
  button.click();
  await new Promise((resolve) => setTimeout(resolve, 300));
  button.click();
  await new Promise((resolve) => setTimeout(resolve, 300));
}"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium (make test installs it)"
    ),
    pytest.mark.skipif(
        os.environ.get("TOKENAPP_TEST_BACKEND") == "postgresql",
        reason="the browser journey runs once, in the SQLite pass: the pages do not change "
        "with the database",
    ),
]


class Gunicorn(Server):
    """`tokenapp serve` in a process group of its own: stopping it ends the workers too."""

    def start(self, timeout: float = 60) -> "Gunicorn":
        begin = time.monotonic()
        self._log_file = open(self.log, "wb")  # closed in stop
        self.process = subprocess.Popen(  # our own interpreter, fixed arguments
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            start_new_session=True,
        )
        self._wait(begin + timeout)
        return self

    def stop(self) -> None:
        try:
            super().stop()  # SIGTERM to the master, which stops its workers
        finally:
            if self.process is not None:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)  # any worker left behind
                except ProcessLookupError:
                    pass


TOKENAPP = [
    sys.executable,
    "-c",
    "from tokenapp.cli import main; main()",
    "serve",
    "--workers",
    "2",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    env = clean_env(TOKENAPP_INSTANCE_PATH=str(folder / "instance"))
    with Gunicorn(TOKENAPP, env=env, cwd=folder, log=folder / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def new_page(browser, origin: str, **options):
    """A page in a fresh context that notes console errors and requests to anywhere else."""
    # bypass_csp: axe-core is injected at each screenshot (the CSP has tests of its own).
    options = {"viewport": {"width": 1200, "height": 900}, "bypass_csp": True, **options}
    context = browser.new_context(base_url=origin, **options)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    page = context.new_page()
    page.axe = True
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("request", lambda r: r.url.startswith(origin) or page.problems.append(r.url))
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm
    return page


@pytest.fixture(scope="module")
def page(browser, server):
    page = new_page(browser, f"http://127.0.0.1:{server.port}")
    yield page
    page.context.close()


def verify(server, secret: str) -> tuple[int, dict]:
    status, _, body = server.request(
        "GET", "/api/v1/auth/verify", headers={"Authorization": f"Bearer {secret}"}
    )
    return status, (json.loads(body) if status == 200 else {})


def shot(page, name: str) -> None:
    """A screenshot of the page state, which axe-core (when installed) also checks."""
    from test_browser_team import AXE
    from test_browser_team import axe_clean

    if AXE.exists() and getattr(page, "axe", False):
        axe_clean(page, name)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def hold_posts(page, pattern: str) -> list:
    """POSTs to `pattern` are held (not sent on) until release(); returns the held routes."""
    held = []

    def hold(route):
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route(pattern, hold)
    return held


def release(page, held: list) -> None:
    for route in held:
        route.continue_()
    page.unroute_all()


def secrets_on(page) -> set[str]:
    """Every secret in the page's markup or in its secret fields (input and textarea values)."""
    values = page.eval_on_selector_all(".secret", "els => els.map(e => e.value ?? '')")
    return set(SECRET.findall(page.content() + " ".join(values)))


def test_setup_sign_in_and_create_a_project(page, server):
    page.goto("/")
    assert page.url.endswith("/setup")
    page.get_by_label("Setup code").fill(server.setup_code())
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm").fill(PASSWORD)
    page.get_by_role("button", name="Create the administrator").click()
    page.get_by_label("Slug").fill("acme")
    page.get_by_label("Name").fill("Acme")
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("heading", name=re.compile("Acme")).first.wait_for()  # the page loaded


def test_key_page_export_key_copy_and_full_key_once(page, server):
    page.goto("/projects/acme/keys")
    page.get_by_label("Label").fill("deploy")
    page.get_by_label("Export key (read only)").check()
    page.get_by_role("button", name="Create key").click()
    export = page.locator(".secret").first.input_value()
    assert export.startswith("tke_")
    page.get_by_role("button", name="Copy").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == export
    assert verify(server, export)[0] == 200

    page.get_by_label("Label").fill("ci writer")
    page.get_by_label("Full access key").check()
    sent = hold_posts(page, "**/projects/acme/keys")
    page.evaluate(DOUBLE_CLICK, "Create key")  # a slow server (the POST is held), two clicks
    assert len(sent) == 1  # app.js sends a one-use form once per page view
    release(page, sent)
    page.get_by_role("heading", name="Your new full access key").wait_for()
    full = {s for s in secrets_on(page) if s.startswith("tkf_")}
    assert len(full) == 1
    assert page.get_by_text("cannot be shown again").count()
    shot(page, "key-page-new-full-key.png")
    (full_secret,) = full
    assert verify(server, full_secret)[0] == 200

    page.reload()  # re-sends the POST: the one-use form refuses to mint another key
    assert full_secret not in secrets_on(page)
    assert page.get_by_text("This form was already submitted").count() == 1
    page.goto("/projects/acme/keys")
    assert full_secret not in secrets_on(page)
    assert export in secrets_on(page)  # export keys stay visible
    rows = page.get_by_role("table", name="Your keys").locator("tbody tr")
    assert rows.count() == 2
    assert page.get_by_role("cell", name="ci writer", exact=True).count() == 1
    shot(page, "key-page.png")


def test_token_create_regenerate_delete(page, server):
    page.goto("/tokens/new")
    page.get_by_label("Note").fill("grafana")
    page.locator('input[name="scope_dashboard"][value="view"]').check()
    page.locator('input[name="scope_automation"][value="manage"]').check()
    page.locator('input[name="expiry"][value="30"]').check()
    page.get_by_role("button", name="Create token").click()
    (token,) = secrets_on(page)
    shot(page, "token-created.png")
    status, body = verify(server, token)
    assert status == 200
    assert body["credential"]["scopes"] == ["automation:manage", "dashboard:view"]
    expires = datetime.datetime.fromisoformat(body["credential"]["expires_at"])
    left = expires - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=29, hours=23) < left <= datetime.timedelta(days=30)

    page.get_by_role("link", name="I have copied it").click()
    assert token not in secrets_on(page)
    shot(page, "token-detail.png")
    page.get_by_role("button", name="Regenerate").click()
    (new_token,) = secrets_on(page)
    assert new_token != token
    assert verify(server, token)[0] == 401
    assert verify(server, new_token)[0] == 200

    page.goto("/tokens")
    page.get_by_role("link", name="grafana").click()
    page.get_by_role("button", name="Revoke token").click()
    assert page.get_by_text("revoked").count()
    assert verify(server, new_token)[0] == 401

    page.get_by_role("link", name="Create a token").click()  # custom expiry: the banner warns
    page.get_by_label("Note").fill("short lived")
    page.locator('input[name="scope_dashboard"][value="view"]').check()
    page.locator('input[name="expiry"][value="custom"]').check()
    page.get_by_label("Custom number of days").fill("3")
    page.get_by_role("button", name="Create token").click()
    (short,) = secrets_on(page)
    assert verify(server, short)[1]["credential"]["expires_soon"] is True
    page.goto("/tokens")
    assert page.get_by_text("1 access token expires within 7 days").count() == 1
    shot(page, "token-list.png")

    page.get_by_role("link", name="short lived").click()  # limits, on the token's page
    page.get_by_label("Requests per minute").fill("1")
    page.get_by_label("Allowed addresses").fill("127.0.0.0/8\n10.20.0.0/16")
    page.get_by_role("button", name="Save limits").click()
    page.get_by_text("Limits of “short lived” saved.").wait_for()
    assert page.get_by_text("1 request per minute").count() == 1
    shot(page, "token-limits.png")
    # Three requests span at most two minutes, each admitting one.
    assert 429 in [verify(server, short)[0] for _ in range(3)]


def test_audit_log_shows_what_happened(page):
    page.goto("/audit")
    for action in ("login.success", "project.create", "credential.create", "credential.revoke"):
        assert page.get_by_text(action).count(), action
    assert not secrets_on(page)
    shot(page, "audit.png")


def test_log_out_and_no_asset_left_the_server(page):
    page.get_by_role("button", name="Log out").click()
    assert "/login" in page.url
    assert page.problems == []
