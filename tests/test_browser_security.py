"""Sign-in security in a real browser (issue 14): enrol TOTP, sign in with password and
code, sign in through single sign-on at a real OpenID Connect provider.

Chromium (Playwright) against `tokenapp serve` (gunicorn, 2 workers) configured
for panva's oidc-provider (tests/oidc_support.py). Codes come from the RFC 6238
function in totp_support.py, not from the app's library.
"""

import base64
import re
import time

import oidc_support
import pytest
from deploy_support import clean_env
from test_browser import ARGS
from test_browser import CHROMIUM
from test_browser import PASSWORD
from test_browser import TOKENAPP
from test_browser import Gunicorn
from test_browser import pytestmark as browser_marks
from test_browser import shot
from test_browser_team import AXE
from test_browser_team import axe_clean
from totp_support import rfc6238

pytestmark = [
    *browser_marks,
    pytest.mark.skipif(oidc_support.available() is not None, reason=oidc_support.available() or ""),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-security")
    app = Gunicorn(TOKENAPP, env={}, cwd=folder, log=folder / "server.log")
    origin = f"http://127.0.0.1:{app.port}"
    provider = oidc_support.Provider(f"{origin}/login/sso/callback", folder / "provider.log")
    app.env = clean_env(
        TOKENAPP_INSTANCE_PATH=str(folder / "instance"),
        TOKENAPP_OIDC_ISSUER=provider.issuer,
        TOKENAPP_OIDC_CLIENT_ID=oidc_support.CLIENT_ID,
        TOKENAPP_OIDC_CLIENT_SECRET=oidc_support.CLIENT_SECRET,
        TOKENAPP_OIDC_NAME="Example SSO",
        TOKENAPP_OIDC_AUTO_CREATE="true",
    )
    try:
        with app as running:
            yield running, provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def page(servers):
    from playwright.sync_api import sync_playwright

    server, _ = servers
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = chromium.new_context(
            base_url=f"http://127.0.0.1:{server.port}",
            bypass_csp=True,  # to inject axe-core; the pages' CSP is tested in test_web_*
        )
        page = context.new_page()
        page.problems = []
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        yield page
        chromium.close()


VIRTUAL_AUTHENTICATOR = {  # a platform passkey that verifies its user
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}
SAVED = {}  # what one test leaves the next: alice's recovery codes


def accessible(page, state: str) -> None:
    """axe-core's WCAG 2.1 A/AA rules on this page state, when `make axe` installed it."""
    if AXE.exists():
        axe_clean(page, state)


def code(key: str, steps: int = 0) -> str:
    return rfc6238(base64.b32decode(key), int(time.time()) + 30 * steps)


def alice_with_a_passkey_device(page, servers, recovery_code: str):
    """(context, tab): a browser at http://localhost (WebAuthn wants a domain name as
    relying party ID, not 127.0.0.1) with Chromium's virtual authenticator (DevTools
    WebAuthn domain), signed in as alice with a recovery code."""
    server, _ = servers
    context = page.context.browser.new_context(
        base_url=f"http://localhost:{server.port}", bypass_csp=True
    )
    tab = context.new_page()
    cdp = context.new_cdp_session(tab)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
    tab.goto("/login")
    tab.get_by_label("Username").fill("alice")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.get_by_label("Code").fill(recovery_code)
    tab.get_by_role("button", name="Verify").click()
    # Let that sign-in's page finish: its response, landing after the next one, could put
    # back a cookie without the CSRF secret the security page's form and challenge are bound to.
    tab.wait_for_url(re.compile(r"localhost:\d+/$"))
    tab.wait_for_load_state()
    return context, tab


def test_enrol_totp_then_sign_in_with_password_and_code(page, servers):
    server, _ = servers
    page.goto("/")
    page.get_by_label("Setup code").fill(server.setup_code())
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm").fill(PASSWORD)
    page.get_by_role("button", name="Create the administrator").click()

    page.goto("/account")
    page.get_by_role("link", name=re.compile("Sign-in security")).click()
    page.get_by_role("button", name="Set up an authenticator app").click()
    page.locator("#totp-secret").wait_for()  # click() returns once the next page commits
    assert page.locator(".qr svg").count() == 1  # drawn on the page, no outside service
    key = page.locator("#totp-secret").inner_text()
    shot(page, "totp-enrol.png")
    accessible(page, "TOTP enrolment")
    page.get_by_label("Code").fill(code(key))
    page.get_by_role("button", name="Turn on").click()
    page.locator("#recovery-codes").wait_for()
    assert page.locator("#recovery-codes li").count() == 10
    SAVED["recovery"] = page.locator("#recovery-codes li").all_inner_texts()
    accessible(page, "recovery codes")
    page.goto("/admin/security")
    accessible(page, "admin sign-in policy")
    shot(page, "totp-recovery-codes.png")

    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Two-factor sign-in").wait_for()
    accessible(page, "second step")
    page.goto("/account")  # the password alone opened nothing
    assert "/login" in page.url
    page.goto("/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Code").fill(code(key, steps=1))  # newer than the enrolment's code
    page.get_by_role("button", name="Verify").click()
    page.goto("/account")
    assert page.get_by_text("Signed in as alice").count() == 1
    page.get_by_role("button", name="Log out").click()


def test_sign_in_through_single_sign_on(page):
    page.goto("/login")
    accessible(page, "sign-in page with SSO and passkey")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    page.wait_for_url(re.compile(r"/$"))  # to the provider, approved, and back
    page.goto("/account")
    # The provider's alice is not the local alice: matched by sub, a new account.
    assert page.get_by_text("Signed in as alice-2").count() == 1
    shot(page, "sso-signed-in.png")
    page.get_by_role("button", name="Log out").click()
    assert page.problems == []


def test_register_a_passkey_then_sign_in_with_it(page, servers):
    """Chromium's virtual authenticator (DevTools WebAuthn domain) plays the security key.

    At http://localhost: WebAuthn needs a domain name as relying party ID, not 127.0.0.1.
    """
    context, tab = alice_with_a_passkey_device(page, servers, SAVED["recovery"][0])
    tab.goto("/account/security")
    tab.get_by_label("Name").fill("laptop")
    tab.get_by_role("button", name="Add a passkey").click()
    tab.locator(".flash").first.wait_for()
    assert tab.locator(".flash").first.inner_text() == "Passkey “laptop” added."
    assert tab.locator("#passkeys tbody tr").count() == 1
    shot(tab, "passkey-added.png")
    accessible(tab, "security page with a passkey")

    tab.get_by_role("button", name="Log out").click()
    tab.get_by_role("button", name="Sign in with a passkey").click()  # passwordless
    tab.wait_for_url(re.compile(r"localhost:\d+/$"))
    tab.goto("/account")
    assert tab.get_by_text("Signed in as alice").count() == 1

    tab.get_by_role("button", name="Log out").click()  # and as the second factor
    tab.get_by_label("Username").fill("alice")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.get_by_role("button", name="Use a passkey").click()
    tab.wait_for_url(re.compile(r"localhost:\d+/$"))
    tab.goto("/account/security")
    assert "never" not in tab.locator("#passkeys tbody tr").inner_text()
    context.close()


def test_end_another_session_and_see_it_end(page, servers):
    server, _ = servers
    other = page.context.browser.new_context(base_url=f"http://127.0.0.1:{server.port}")
    elsewhere = other.new_page()
    for tab in (page, elsewhere):  # two browsers, both alice-2 through single sign-on
        tab.goto("/login")
        tab.get_by_role("link", name="Sign in with Example SSO").click()
        tab.wait_for_url(re.compile(r"/$"))
    page.goto("/account/sessions")
    assert page.locator("#sessions tbody tr").count() == 2
    assert page.get_by_text("this session").count() == 1
    shot(page, "sessions.png")
    accessible(page, "sessions")
    page.get_by_role("button", name=re.compile("^End the session from")).click()
    page.get_by_text("That session has ended.").wait_for()
    elsewhere.goto("/account")
    assert "/login" in elsewhere.url  # signed out there, at once
    page.goto("/account")
    assert page.get_by_text("Signed in as alice-2").count() == 1
    other.close()


def test_two_open_passkey_pages_each_finish_their_ceremony(page, servers):
    """Each page the server renders holds its own challenge: the older of two open tabs
    (or a page the browser fetched twice) still registers and signs in."""
    context, first = alice_with_a_passkey_device(page, servers, SAVED["recovery"][1])
    second = context.new_page()
    first.goto("/account/security")
    second.goto("/account/security")  # a newer challenge, from the same cookie
    first.bring_to_front()  # WebAuthn answers only the focused tab
    first.get_by_label("Name").fill("older tab")
    first.get_by_role("button", name="Add a passkey").click()
    first.locator(".flash").first.wait_for()
    assert first.locator(".flash").first.inner_text() == "Passkey “older tab” added."

    first.get_by_role("button", name="Log out").click()
    first.wait_for_load_state()
    second.goto("/login")  # the same again on the sign-in page
    first.bring_to_front()
    first.get_by_role("button", name="Sign in with a passkey").click()
    first.wait_for_url(re.compile(r"localhost:\d+/$"))
    first.goto("/account")
    assert first.get_by_text("Signed in as alice").count() == 1
    context.close()
