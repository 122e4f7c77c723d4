"""Single sign-on against a real OpenID Connect provider (issue 14, item 3).

The provider is panva's oidc-provider under Node (tests/oidc_support.py); the
browser's part of the code flow is plain HTTP requests following its redirects,
the app's part (discovery, token exchange, JWKS, userinfo) real HTTP from Flask.
"""

from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import oidc_support
import pytest
import requests
from conftest import PASSWORD
from test_two_factor import enrol

from tokenapp.models import AuditEvent
from tokenapp.models import ExternalIdentity
from tokenapp.models import Setting
from tokenapp.models import User

CALLBACK = "http://localhost/login/sso/callback"

pytestmark = pytest.mark.skipif(
    oidc_support.available() is not None, reason=oidc_support.available() or ""
)


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    running = oidc_support.Provider(CALLBACK, tmp_path_factory.mktemp("oidc") / "provider.log")
    yield running
    running.stop()


@pytest.fixture
def sso_settings():
    return {"OIDC_AUTO_CREATE": True}


@pytest.fixture
def app_overrides(provider, sso_settings):
    return {
        "OIDC_ISSUER": provider.issuer,
        "OIDC_CLIENT_ID": oidc_support.CLIENT_ID,
        "OIDC_CLIENT_SECRET": oidc_support.CLIENT_SECRET,
        "OIDC_NAME": "Example SSO",
        **sso_settings,
    }


def with_params(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def start(client) -> str:
    """GET /login/sso: the authorization request the browser is sent to."""
    response = client.get("/login/sso")
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def at_provider(authorize_url: str) -> str:
    """The browser at the provider: follow its redirects until it sends us back."""
    url = authorize_url
    with requests.Session() as browser:
        for _ in range(10):
            response = browser.get(url, allow_redirects=False, timeout=30)
            assert response.status_code in (302, 303), (response.status_code, response.text[:500])
            url = requests.compat.urljoin(url, response.headers["Location"])
            if url.startswith(CALLBACK):
                return url
    raise AssertionError("the provider never sent the browser back")


def finish(client, callback_url: str):
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client, who: str = "alice"):
    return finish(client, at_provider(with_params(start(client), login_hint=who)))


def signed_in_as(client) -> str | None:
    page = client.get("/account")
    if page.status_code != 200:
        return None
    return page.text.split("Signed in as <strong>")[1].split("</strong>")[0]


def test_the_sign_in_page_offers_the_provider(client, ctx):
    User.create(username="root", password_hash="x", is_admin=True)  # past first-run setup
    page = client.get("/login").text
    assert 'href="/login/sso"' in page and "Sign in with Example SSO" in page
    assert 'name="password"' in page


def test_the_authorization_request_carries_state_nonce_and_pkce(client, ctx, provider):
    query = parse_qs(urlsplit(start(client)).query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [oidc_support.CLIENT_ID]
    assert query["redirect_uri"] == [CALLBACK]
    assert set(query["scope"][0].split()) >= {"openid", "profile", "email"}
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 20 and len(query["nonce"][0]) >= 20


def test_the_full_code_flow_creates_then_finds_the_user(app, client, auth, ctx):
    response = sign_in(client, "alice")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in_as(client) == "alice"
    link = ExternalIdentity.get()
    assert link.subject == "a1b2c3-alice" and link.user.username == "alice"
    auth.logout()
    assert signed_in_as(client) is None
    sign_in(client, "alice")
    assert signed_in_as(client) == "alice"
    assert User.select().count() == 1
    assert AuditEvent.select().where(AuditEvent.action == "user.sso_create").count() == 1


@pytest.mark.parametrize(
    "sso_settings", [{"OIDC_AUTO_CREATE": True, "OIDC_ADMIN_GROUP": "tokenapp-admins"}]
)
def test_the_admin_group_makes_admins(client, ctx):
    sign_in(client, "bob")
    bob = User.get(User.username == "bob.smith")
    assert bob.is_admin


def test_the_user_is_matched_by_sub_not_by_name(client, ctx, make_user):
    make_user("alice")  # a local alice the provider's alice must not take over
    sign_in(client, "alice")
    assert signed_in_as(client) == "alice-2"


@pytest.mark.parametrize("sso_settings", [{"OIDC_AUTO_CREATE": False}])
def test_without_auto_create_an_unknown_person_is_refused(client, ctx):
    response = sign_in(client, "carol")
    assert response.status_code == 403
    assert signed_in_as(client) is None
    assert not User.select().where(User.username == "carol").exists()


def refusals() -> list[str]:
    events = AuditEvent.select().where(AuditEvent.action == "login.sso.failure")
    return [e.detail["reason"] for e in events]


@pytest.mark.parametrize(
    ("how", "reason"), [("payload", "BadSignatureError"), ("alg-none", "UnsupportedAlgorithmError")]
)
def test_a_tampered_id_token_is_refused(client, ctx, provider, how, reason):
    callback = at_provider(with_params(start(client), login_hint="alice"))
    provider.proxy.tamper = how
    response = finish(client, callback)
    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert provider.proxy.tamper is None  # the forged token did reach the app
    assert not User.select().exists()
    assert refusals() == [reason]


def test_a_wrong_nonce_is_refused(client, ctx):
    # An ID token minted for another authorization request (its nonce not ours).
    callback = at_provider(with_params(start(client), login_hint="alice", nonce="n" * 32))
    response = finish(client, callback)
    assert response.status_code == 400
    assert signed_in_as(client) is None
    assert refusals() == ["InvalidClaimError"]


def test_a_replayed_state_is_refused(app, client, auth, ctx):
    callback = at_provider(with_params(start(client), login_hint="alice"))
    assert finish(client, callback).status_code == 302
    auth.logout()
    assert finish(client, callback).status_code == 400
    assert signed_in_as(client) is None
    # Nor does another browser get signed in with someone else's callback (login CSRF).
    victim = app.test_client()
    callback = at_provider(with_params(start(client), login_hint="alice"))
    assert finish(victim, callback).status_code == 400
    assert signed_in_as(victim) is None
    assert refusals() == ["MismatchingStateError", "MismatchingStateError"]


@pytest.mark.parametrize("sso_settings", [{"PASSWORD_LOGIN": False, "WTF_CSRF_ENABLED": False}])
def test_password_sign_in_can_be_turned_off(client, auth, ctx, make_user):
    make_user("alice")
    page = client.get("/login").text
    assert 'name="password"' not in page and "Sign in with Example SSO" in page
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert signed_in_as(client) is None


@pytest.mark.parametrize("sso_settings", [{"OIDC_AUTO_CREATE": False}])
def test_an_existing_user_is_linked_from_the_command_line(app, client, ctx, make_user):
    make_user("carol.local")
    result = app.test_cli_runner().invoke(args=["user", "link-sso", "carol.local", "g7h8-carol"])
    assert result.exit_code == 0, result.output
    assert sign_in(client, "carol").status_code == 302
    assert signed_in_as(client) == "carol.local"
    twice = app.test_cli_runner().invoke(args=["user", "link-sso", "carol.local", "g7h8-carol"])
    assert twice.exit_code != 0 and "already linked" in twice.output


def test_a_provider_that_did_two_factor_satisfies_the_policy(client, auth, ctx):
    Setting.create(key="require_2fa", value="everyone")
    sign_in(client, "bob")  # the provider reports amr otp
    assert client.get("/tokens").status_code == 200
    client.post("/logout", data={"csrf_token": auth.csrf("/tokens")})
    sign_in(client, "alice")  # amr pwd only: sent to enrol here
    assert client.get("/tokens").headers["Location"].endswith("/account/security")


def test_sso_without_provider_two_factor_asks_for_our_code(app, client, auth, ctx, clock):
    app.config["CLOCK"] = clock
    sign_in(client, "alice")
    phone, _ = enrol(client, auth, clock)
    auth.logout()
    clock.advance(seconds=30)
    response = sign_in(client, "alice")
    assert response.headers["Location"].endswith("/login/2fa")
    assert signed_in_as(client) is None
    assert auth.post("/login/2fa", {"code": phone.code()}).status_code == 302
    assert signed_in_as(client) == "alice"


def test_failed_callbacks_are_throttled_per_address(client, ctx):
    for n in range(5):
        assert client.get(f"/login/sso/callback?code=x&state=forged{n}").status_code == 400
    response = client.get("/login/sso/callback?code=x&state=forged")
    assert response.status_code == 429 and "Retry-After" in response.headers
