"""The team chapters of the browser journey, a 390 px phone and dark mode, with axe-core.

One real gunicorn on an instance prepared with the CLI: root (admin), alice
(owner of acme) and bob (editor, with a key and a token nobody used for 100
days). Every page state visited is checked by axe-core (npm, `make axe`) for
WCAG 2.1 A/AA violations; screenshots go to test-artifacts/.
"""

import datetime
import json
import sys
from pathlib import Path

import pytest
from deploy_support import clean_env
from test_browser import ARGS
from test_browser import CHROMIUM
from test_browser import PASSWORD
from test_browser import Gunicorn
from test_browser import shot

AXE = Path(sys.prefix) / "node" / "node_modules" / "axe-core" / "axe.min.js"
TOKENAPP = [sys.executable, "-c", "from tokenapp.cli import main; main()"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium"),
    pytest.mark.skipif(not AXE.exists(), reason=f"no {AXE} (make axe installs it)"),
]
if __import__("os").environ.get("TOKENAPP_TEST_BACKEND") == "postgresql":
    pytestmark.append(pytest.mark.skip(reason="the browser journeys run in the SQLite pass"))


def _cli(env, *args, input=None) -> str:
    import subprocess

    done = subprocess.run(
        [*TOKENAPP, *args], env=env, input=input, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    folder = tmp_path_factory.mktemp("team")
    env = clean_env(TOKENAPP_INSTANCE_PATH=str(folder / "instance"), TOKENAPP_BCRYPT_ROUNDS="4")
    _cli(env, "init")
    _cli(env, "create-user", "root", "--admin", "--password-stdin", input=PASSWORD)
    for name in ("alice", "bob"):
        _cli(env, "create-user", name, "--password-stdin", input=PASSWORD)
    _cli(env, "project", "create", "acme", "--owner", "alice", "--name", "Acme")
    _cli(env, "project", "add-member", "acme", "bob", "--role", "editor")
    # A service account: the members page's badge and the key page's "Acts as" under axe.
    _cli(env, "project", "add-service-account", "acme", "deploy", "--role", "editor")
    secrets = {
        "bob_key": _cli(
            env, "key", "create", "acme", "--user", "bob", "--kind", "full", "--label", "bob laptop"
        ),
        "stale": _cli(
            env,
            "token",
            "create",
            "--user",
            "bob",
            "--note",
            "old ci",
            "--scope",
            "dashboard:view",
            "--expiration",
            "never",
        ),
        "alice_key": _cli(
            env, "key", "create", "acme", "--user", "alice", "--kind", "export", "--label", "deploy"
        ),
    }
    _age(folder / "instance" / "tokenapp.db", "old ci", days=100)
    with Gunicorn(
        [*TOKENAPP, "serve", "--workers", "2"], env=env, cwd=folder, log=folder / "server.log"
    ) as server:
        server.secrets = secrets
        yield server


def _age(path: Path, note: str, *, days: int) -> None:
    """A token made `days` ago and never used since: what the inventory is for."""
    import sqlite3

    then = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(days=days)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE credential SET created_at = ? WHERE note = ?", (then.isoformat(" "), note)
        )


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _page(browser, server, *, user: str, password=PASSWORD, width=1200, height=900, dark=False):
    origin = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(
        base_url=origin,
        viewport={"width": width, "height": height},
        color_scheme="dark" if dark else "light",
        bypass_csp=True,  # to inject axe-core; the pages' own CSP is tested elsewhere
    )
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/login")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def axe_clean(page, state: str) -> None:
    """No WCAG 2.1 A/AA violation on this page state (axe-core's own rules)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: {type: "tag",
            values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
          return r.violations.map(v => ({id: v.id, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }"""
    )
    assert result == [], f"{state}: {json.dumps(result, indent=1)}"


def verify(server, secret: str) -> int:
    status, _, _ = server.request(
        "GET", "/api/v1/auth/verify", headers={"Authorization": f"Bearer {secret}"}
    )
    return status


def test_owner_revokes_a_teammates_key_from_the_key_page(browser, team):
    page = _page(browser, team, user="alice")
    page.goto("/projects/acme/keys")
    axe_clean(page, "key page as owner")
    others = page.get_by_role("table", name="Other members' keys")
    assert others.get_by_role("cell", name="bob", exact=True).count() == 1
    shot(page, "team-key-page.png")
    page.get_by_role("link", name="bob laptop", exact=True).click()
    page.get_by_text("only they can regenerate it").wait_for()
    axe_clean(page, "a teammate's key, as owner")
    page.goto("/projects/acme/keys")
    assert verify(team, team.secrets["bob_key"]) == 200
    others.get_by_role("button", name="Revoke bob laptop").click()
    page.get_by_text("of bob revoked").wait_for()
    assert verify(team, team.secrets["bob_key"]) == 401
    axe_clean(page, "key page after revoking")
    page.context.close()


def test_admin_finds_a_stale_token_in_the_inventory_and_revokes_it(browser, team):
    page = _page(browser, team, user="root")
    page.goto("/admin/users")
    axe_clean(page, "admin users")
    page.get_by_role("link", name="Credentials inventory").click()
    axe_clean(page, "inventory")
    page.get_by_label("Unused for (days)").fill("90")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**unused_for=90**")
    rows = page.locator("table.inventory tbody tr")
    assert rows.count() == 1 and "old ci" in rows.first.inner_text()
    shot(page, "inventory-stale.png")
    page.get_by_label("Select old ci of bob").check()
    assert verify(team, team.secrets["stale"]) == 200
    page.get_by_role("button", name="Revoke selected").click()
    page.get_by_text("Revoked 1 credential").wait_for()
    assert verify(team, team.secrets["stale"]) == 401
    axe_clean(page, "inventory after bulk revoke")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="All projects").click()
    axe_clean(page, "all projects")
    page.get_by_role("link", name="Acme").click()
    page.get_by_text("not a member").wait_for()
    axe_clean(page, "a project, as an admin who is not a member")
    page.context.close()


def test_admin_resets_a_password_and_the_user_must_change_it(browser, team):
    admin = _page(browser, team, user="root")
    admin.goto("/admin/users")
    admin.get_by_role("link", name="Set password of bob").click()
    axe_clean(admin, "set a password")
    admin.get_by_label("Temporary password", exact=True).fill("temporary pass 1")
    admin.get_by_label("Confirm the temporary password").fill("temporary pass 1")
    admin.get_by_role("button", name="Set the password").click()
    admin.get_by_text("must choose their own password").wait_for()
    admin.context.close()

    bob = _page(browser, team, user="bob", password="temporary pass 1")
    bob.get_by_text("An administrator set your password").wait_for()
    assert "/account" in bob.url
    axe_clean(bob, "account page, password to change")
    bob.goto("/tokens")
    assert "/account" in bob.url  # nothing else until bob chooses his own
    bob.get_by_label("Current password").fill("temporary pass 1")
    bob.get_by_label("New password", exact=True).fill("bobs own passphrase")
    bob.get_by_label("Confirm new password").fill("bobs own passphrase")
    bob.get_by_role("button", name="Change password").click()
    bob.get_by_text("Password changed").wait_for()
    bob.goto("/tokens")
    assert bob.url.endswith("/tokens")
    bob.context.close()


PHONE_PAGES = [
    "/",
    "/tokens",
    "/tokens/new",
    "/projects/acme",
    "/projects/acme/keys",
    "/projects/acme/members",
    "/account",
    "/audit",
]


def test_on_a_390px_phone_nothing_scrolls_sideways_and_every_action_is_on_screen(browser, team):
    page = _page(browser, team, user="alice", width=390, height=844)
    for path in [p for p in PHONE_PAGES if p != "/audit"]:
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide"
        off_screen = page.evaluate(
            """() => [...document.querySelectorAll(
                "main button, main a.button, main input, main select")]
              .filter(e => e.offsetParent !== null && e.type !== "hidden")
              .map(e => [e.textContent.trim() || e.name || e.id, e.getBoundingClientRect().right])
              .filter(([, right]) => right > 390.5)"""
        )
        assert off_screen == [], f"{path}: {off_screen}"
        axe_clean(page, f"{path} at 390 px")
    page.goto("/projects/acme/keys")
    shot(page, "phone-key-page.png")
    page.goto("/tokens/new")
    shot(page, "phone-new-token.png")
    page.context.close()


def test_the_api_reference_in_the_apps_frame(browser, team):
    page = _page(browser, team, user="alice")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API").click()
    page.get_by_role("heading", name="API reference").wait_for()
    page.locator(".swagger-ui .opblock").first.wait_for()  # the vendored viewer drew the spec
    assert page.get_by_role("navigation", name="Main").count() == 1  # the app's own frame
    axe_clean(page, "/api/docs")
    shot(page, "api-docs.png")
    page.context.close()


def test_dark_mode(browser, team):
    page = _page(browser, team, user="root", dark=True)
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(249, 250, 251)"  # not the light page
    for path in ["/", "/tokens/new", "/admin/credentials", "/audit"]:
        page.goto(path)
        axe_clean(page, f"{path} in dark mode")
    page.goto("/tokens/new")
    page.locator('input[name="expiry"][value="never"]').check()
    page.get_by_text("works until someone revokes it").wait_for()
    shot(page, "dark-new-token.png")
    page.context.close()
