"""Setup, sign-in, account and admin pages, through the test client."""

import re

import pytest
from conftest import PASSWORD
from conftest import AuthActions

from tokenapp import accounts
from tokenapp import setup_code as codes
from tokenapp.models import AuditEvent
from tokenapp.models import User
from tokenapp.web.session import BAD_LOGIN

NEW_PASSWORD = "a brand new passphrase"
ERROR = re.compile(r'class="flash flash-error" role="alert"><p>([^<]+)</p>')


def error_message(response) -> str | None:
    match = ERROR.search(response.get_data(as_text=True))
    return match.group(1) if match else None


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


@pytest.fixture
def setup_code(ctx):
    return codes.new_setup_code()


def setup_form(code, username="root", password=PASSWORD):
    return {"code": code, "username": username, "password": password, "confirm": password}


# --- first-run setup ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/login"])
def test_pages_send_to_setup_while_no_user_exists(client, ctx, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.location == "/setup"


def test_setup_refuses_a_wrong_code_and_creates_nothing(client, auth, setup_code):
    response = auth.post("/setup", setup_form("not-the-code"))
    assert response.status_code == 200
    assert error_message(response) == "That setup code is not valid."
    assert User.select().count() == 0


def test_setup_creates_a_signed_in_admin_once(client, auth, setup_code):
    response = auth.post("/setup", setup_form(setup_code))
    assert response.status_code == 302
    assert signed_in(client)
    root = User.get(User.username == "root")
    assert root.is_admin
    # Afterwards the page is gone, and the same code claims nothing.
    other = AuthActions(client.application.test_client())
    assert other.client.get("/setup").location == "/login"
    response = other.post("/setup", setup_form(setup_code, "mallory"), form_page="/login")
    assert response.status_code == 302
    assert User.select().count() == 1


def test_setup_with_short_password_keeps_the_code(client, auth, setup_code):
    response = auth.post("/setup", setup_form(setup_code, password="short"))
    assert "at least" in error_message(response)
    assert User.select().count() == 0
    assert auth.post("/setup", setup_form(setup_code)).status_code == 302


def test_setup_codes_have_no_look_alikes_and_survive_a_sloppy_paste(client, auth, setup_code):
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", setup_code)
    sloppy = "  " + setup_code.lower().replace("-", " ").replace("0", "o").replace("1", "l") + "\n"
    assert auth.post("/setup", setup_form(sloppy)).status_code == 302


def test_setup_shows_every_problem_at_once_and_keeps_the_passwords(client, auth, setup_code):
    response = auth.post(
        "/setup",
        {"code": "WRONG", "username": "no spaces allowed", "password": "short", "confirm": "short"},
    )
    page = response.get_data(as_text=True)
    summary = page.split('class="flash flash-error" role="alert">')[1].split("</div>")[0]
    assert "That setup code is not valid." in summary
    assert "Usernames are 1-64 characters" in summary
    assert "at least" in summary
    for field in ("code", "username", "password"):
        assert f'id="{field}-error"' in page
    assert page.count('value="short"') == 2  # password and confirmation kept
    assert User.select().count() == 0


def test_a_new_setup_code_replaces_the_old_one(client, auth, setup_code):
    newer = codes.new_setup_code()
    assert error_message(auth.post("/setup", setup_form(setup_code))) is not None
    assert auth.post("/setup", setup_form(newer)).status_code == 302


def test_stored_password_hashes_are_bcrypt(make_user):
    user = make_user()
    marker = re.escape(accounts.HASH_MARKER)
    assert re.fullmatch(marker + r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}", user.password_hash)


# --- sign-in -------------------------------------------------------------------


def test_login_success_starts_a_session_and_is_audited(client, auth, make_user):
    make_user("alice")
    response = auth.login("alice")
    assert response.status_code == 302
    assert response.location == "/"
    assert "alice" in client.get("/").get_data(as_text=True)
    assert AuditEvent.select().where(AuditEvent.action == "login.success").count() == 1


def test_usernames_are_case_insensitive_at_login(client, auth, make_user):
    make_user("alice")
    assert auth.login("  Alice ").status_code == 302


def test_unknown_user_wrong_password_and_deactivated_get_one_message(client, auth, make_user):
    make_user("alice")
    accounts.set_active(make_user("bob"), False)
    answers = [
        auth.login("nobody"),
        auth.login("alice", "wrong password!"),
        auth.login("bob"),  # right password, deactivated
    ]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert {error_message(r) for r in answers} == {BAD_LOGIN}
    assert not signed_in(client)
    assert AuditEvent.select().where(AuditEvent.action == "login.failure").count() == 3


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/projects/x?tab=1", "/projects/x?tab=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_next_is_followed_only_within_the_site(client, auth, make_user, target, expected):
    make_user("alice")
    data = {"username": "alice", "password": PASSWORD}
    response = auth.post("/login", data, form_page="/login", query_string={"next": target})
    assert response.status_code == 302
    assert response.location == expected


# Throttling by (username, address), per address and the username's growing
# delay: tests/test_login_throttle.py.


def test_logout_needs_a_post_with_a_csrf_token(client, auth, make_user):
    make_user("alice")
    auth.login("alice")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert signed_in(client)
    assert auth.logout().status_code == 302
    assert not signed_in(client)


# --- CSRF, cookies, headers -------------------------------------------------------


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(client, auth, make_user):
    make_user("alice")
    auth.login("alice")
    response = client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert accounts.password_matches(User.get(User.username == "alice"), PASSWORD)


def test_login_without_csrf_token_is_refused(client, make_user):
    make_user("alice")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert not signed_in(client)


def test_pages_carry_the_security_headers(client, ctx):
    response = client.get("/setup")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script_or_style(client, auth, make_user):
    make_user("alice", admin=True)
    auth.login("alice")
    for path in ["/", "/account", "/admin/users"]:
        page = client.get(path).get_data(as_text=True)
        assert "style=" not in page
        assert not re.search(r"<script(?![^>]*\bsrc=)", page)
        assert not re.search(r"\son[a-z]+=", page)


def session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if "tokenapp_session=" in c]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_is_httponly_and_lax(client, auth, make_user):
    make_user("alice")
    cookie = session_cookie(auth.login("alice"))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain-HTTP local install


def test_session_cookie_is_secure_over_https(client, ctx):
    cookie = session_cookie(client.get("/setup", base_url="https://localhost"))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_session_is_permanent_with_the_configured_lifetime(app, auth, make_user):
    make_user("alice")
    cookie = session_cookie(auth.login("alice"))
    assert "Expires=" in cookie


# --- account page ------------------------------------------------------------------


def change_password(auth, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    data = {"current": current, "password": new, "confirm": confirm or new}
    return auth.post("/account/password", data, form_page="/account")


def test_password_change_ends_other_sessions_but_not_this_one(app, client, auth, make_user):
    make_user("alice")
    other = AuthActions(app.test_client())
    auth.login("alice")
    other.login("alice")
    assert signed_in(other.client)
    assert change_password(auth).status_code == 302
    assert signed_in(client)
    assert not signed_in(other.client)
    assert error_message(other.login("alice")) == BAD_LOGIN
    assert other.login("alice", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("current", "new", "confirm"),
    [
        ("wrong password!", NEW_PASSWORD, NEW_PASSWORD),
        (PASSWORD, NEW_PASSWORD, "something else entirely"),
        (PASSWORD, "short", "short"),
    ],
)
def test_bad_password_change_changes_nothing(client, auth, make_user, current, new, confirm):
    make_user("alice")
    auth.login("alice")
    assert change_password(auth, current, new, confirm).status_code == 400
    assert signed_in(client)
    assert accounts.password_matches(User.get(User.username == "alice"), PASSWORD)


@pytest.mark.parametrize(
    ("url", "status", "stored"),
    [
        ("https://hooks.example.internal/x", 302, "https://hooks.example.internal/x"),
        ("http://10.0.0.5:8080/hook", 400, "https://before.example/"),  # private: not allowed
        ("", 302, None),
        ("ftp://files.example/", 400, "https://before.example/"),
        ("not a url", 400, "https://before.example/"),
    ],
)
def test_webhook_url_is_an_http_url_or_empty(auth, make_user, url, status, stored):
    user = make_user("alice")
    accounts.set_webhook_url(user, "https://before.example/")
    auth.login("alice")
    response = auth.post("/account/webhook", {"webhook_url": url}, form_page="/account")
    assert response.status_code == status
    assert User.get_by_id(user.id).webhook_url == stored


# --- admin ----------------------------------------------------------------------------


def test_admin_page_is_for_admins_only(client, auth, make_user):
    make_user("alice")
    assert client.get("/admin/users").location.startswith("/login")
    auth.login("alice")
    assert client.get("/admin/users").status_code == 403
    response = auth.post(
        "/admin/users", {"username": "eve", "password": PASSWORD}, form_page="/account"
    )
    assert response.status_code == 403
    assert User.get_or_none(User.username == "eve") is None


def test_forbidden_page_is_html(client, auth, make_user):
    make_user("alice")
    auth.login("alice")
    response = client.get("/admin/users")
    assert response.mimetype == "text/html"
    assert "403" in response.get_data(as_text=True)


@pytest.fixture
def admin(auth, make_user):
    user = make_user("root", admin=True)
    auth.login("root")
    return user


def admin_action(auth, user, what, value):
    return auth.post(f"/admin/users/{user.id}/{what}", {"value": value}, form_page="/admin/users")


def test_admin_creates_a_user_who_can_sign_in(app, auth, admin):
    response = auth.post(
        "/admin/users",
        {"username": "carol", "password": PASSWORD, "is_admin": "y"},
        form_page="/admin/users",
    )
    assert response.status_code == 302
    assert User.get(User.username == "carol").is_admin
    assert AuthActions(app.test_client()).login("carol").status_code == 302


def test_admin_create_user_reports_a_taken_name(auth, admin):
    response = auth.post(
        "/admin/users", {"username": "ROOT", "password": PASSWORD}, form_page="/admin/users"
    )
    assert response.status_code == 400
    assert "taken" in error_message(response)


def test_deactivation_ends_sessions_and_blocks_login(app, auth, admin, make_user):
    bob = make_user("bob")
    bobs = AuthActions(app.test_client())
    bobs.login("bob")
    assert signed_in(bobs.client)
    assert admin_action(auth, bob, "active", "0").status_code == 302
    assert not signed_in(bobs.client)
    assert error_message(bobs.login("bob")) == BAD_LOGIN
    admin_action(auth, bob, "active", "1")
    assert bobs.login("bob").status_code == 302


def test_admin_grants_and_revokes_admin(app, auth, admin, make_user):
    bob = make_user("bob")
    bobs = AuthActions(app.test_client())
    bobs.login("bob")
    admin_action(auth, bob, "admin", "1")
    assert bobs.client.get("/admin/users").status_code == 200
    admin_action(auth, bob, "admin", "0")
    assert bobs.client.get("/admin/users").status_code == 403


@pytest.mark.parametrize("what", ["active", "admin"])
def test_the_last_active_admin_keeps_their_rights(client, auth, admin, make_user, what):
    response = admin_action(auth, admin, what, "0")
    assert response.status_code == 302
    root = User.get_by_id(admin.id)
    assert root.is_admin and root.is_active
    assert "last active administrator" in client.get("/admin/users").get_data(as_text=True)
    # With a second admin, stepping down is fine.
    make_user("second", admin=True)
    admin_action(auth, admin, "admin", "0")
    assert not User.get_by_id(admin.id).is_admin
