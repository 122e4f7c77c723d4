"""Server-side sessions (issue 11 finding 3) and the password pre-hash (finding 14)."""

import base64
import hashlib
import re
import secrets

import bcrypt
from conftest import PASSWORD
from conftest import AuthActions
from deploy_support import TOKENAPP
from deploy_support import Server
from deploy_support import clean_env
from flask_login.utils import encode_cookie

from tokenapp import accounts
from tokenapp.models import User
from tokenapp.models import UserSession

COOKIE = re.compile(r"tokenapp_session=([^;]*)")


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def copied_cookie(client) -> str:
    return client.get_cookie("tokenapp_session").value


def replay(app, cookie: str, **kwargs):
    """A fresh browser that only has the copied cookie."""
    thief = app.test_client()
    thief.set_cookie("tokenapp_session", cookie)
    return thief.get("/account", **kwargs)


def test_a_cookie_copied_before_logout_stops_working_at_logout(app, client, auth, make_user):
    make_user("alice")
    auth.login("alice")
    cookie = copied_cookie(client)
    assert replay(app, cookie).status_code == 200  # a live session, from any browser
    assert auth.logout().status_code == 302
    response = replay(app, cookie)
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_logout_ends_only_that_session(app, client, auth, make_user):
    make_user("alice")
    other = AuthActions(app.test_client())
    auth.login("alice")
    other.login("alice")
    auth.logout()
    assert signed_in(other.client)


def test_sessions_are_stored_by_digest_with_where_and_what(client, auth, make_user):
    user = make_user("alice")
    client.get("/login", headers={"User-Agent": "Firefox/200"})
    auth.post(
        "/login",
        {"username": "alice", "password": PASSWORD},
        form_page="/login",
        headers={"User-Agent": "Firefox/200"},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )
    row = UserSession.get(UserSession.user == user.id)
    assert row.user_agent == "Firefox/200" and row.address == "198.51.100.4"
    assert row.ended_at is None and re.fullmatch(r"[0-9a-f]{64}", row.digest)
    # The cookie (signed, not encrypted) carries the id whose digest is stored, never the digest.
    assert row.digest not in client.get_cookie("tokenapp_session").value


def test_last_seen_is_written_at_most_once_a_minute(app, client, auth, make_user, clock):
    app.config["CLOCK"] = clock
    user = make_user("alice")
    auth.login("alice")
    started = clock.now
    clock.advance(seconds=59)
    assert signed_in(client)
    assert UserSession.get(UserSession.user == user.id).last_seen == started
    clock.advance(seconds=2)
    assert signed_in(client)
    assert UserSession.get(UserSession.user == user.id).last_seen == clock.now


def test_password_change_and_deactivation_end_every_stored_session(app, auth, make_user):
    user = make_user("alice")
    others = [AuthActions(app.test_client()) for _ in range(2)]
    for other in others:
        other.login("alice")
    auth.login("alice")
    data = {"current": PASSWORD, "password": "a brand new passphrase"}
    auth.post("/account/password", dict(data, confirm=data["password"]), form_page="/account")
    live = UserSession.select().where(
        (UserSession.user == user.id) & UserSession.ended_at.is_null()
    )
    assert live.count() == 1  # the one that changed it, signed in again
    accounts.set_active(User.get_by_id(user.id), False)
    assert live.count() == 0


def test_a_session_moves_between_addresses_and_browsers(app, client, auth, make_user):
    # Decision: no binding to address or user agent (see accounts.login_manager).
    make_user("alice")
    auth.login("alice")
    cookie = copied_cookie(client)
    response = replay(
        app, cookie, headers={"User-Agent": "other"}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
    assert response.status_code == 200


def test_a_remember_cookie_alone_signs_nobody_in(app, ctx, make_user):
    # flask-login's remember cookie is never set; one forged with the secret key must not work.
    user = make_user("alice")
    browser = app.test_client()
    browser.set_cookie("remember_token", encode_cookie(user.get_id()))
    assert browser.get("/account").status_code == 302


def test_logout_holds_on_every_worker_and_node(tmp_path, database_url, app, make_user):
    """Two `tokenapp serve` nodes, two workers each, on one database (SQLite or PostgreSQL)."""
    make_user("alice")
    env = clean_env(
        TOKENAPP_DATABASE_URL=database_url,
        TOKENAPP_SECRET_KEY=app.config["SECRET_KEY"],
        TOKENAPP_INSTANCE_PATH=str(tmp_path / "nodes"),
    )
    argv = [TOKENAPP, "serve", "--workers", "2"]
    with (
        Server(argv, env=env, cwd=tmp_path, log=tmp_path / "a.log") as a,
        Server(argv, env=env, cwd=tmp_path, log=tmp_path / "b.log") as b,
    ):
        cookie = _node_login(a, "alice")
        assert {_account_status(node, cookie) for node in (a, b) * 4} == {200}
        _, headers, page = a.request("GET", "/", headers={"Cookie": cookie})
        cookie = COOKIE.search(headers.get("Set-Cookie") or cookie).group(0)  # holds the CSRF token
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        status, _, _ = b.request(
            "POST",
            "/logout",
            body=b"csrf_token=" + token,
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 302
        assert {_account_status(node, cookie) for node in (a, b) * 4} == {302}


def _node_login(node, username) -> str:
    _, headers, page = node.request("GET", "/login")
    cookie = COOKIE.search(headers["Set-Cookie"]).group(0)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.decode()).group(1)
    body = f"csrf_token={token}&username={username}&password={PASSWORD.replace(' ', '+')}"
    status, headers, _ = node.request(
        "POST",
        "/login",
        body=body,
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 302, status
    return COOKIE.search(headers["Set-Cookie"]).group(0)


def _account_status(node, cookie) -> int:
    return node.request("GET", "/account", headers={"Cookie": cookie})[0]


# --- finding 14: the pre-hash of long passwords ---------------------------------

LONG = "a passphrase that is longer than bcrypt's seventy-two byte limit, " * 2


def test_the_hex_digest_of_a_long_password_is_not_a_working_password(client, auth, make_user):
    make_user("alice", password=LONG)
    assert auth.login("alice", hashlib.sha256(LONG.encode()).hexdigest()).status_code == 200
    assert not signed_in(client)
    assert auth.login("alice", LONG).status_code == 302


def test_no_short_password_stands_in_for_a_long_one(ctx, make_user):
    user = make_user("alice", password=LONG)
    for typed in (
        hashlib.sha256(LONG.encode()).hexdigest(),
        base64.b64encode(hashlib.sha256(LONG.encode()).digest()).decode(),
        LONG[:72],
    ):
        assert not accounts.password_matches(user, typed)


def _legacy_hash(password: str) -> str:
    data = password.encode()
    if len(data) > 72:
        data = hashlib.sha256(data).hexdigest().encode()
    return bcrypt.hashpw(data, bcrypt.gensalt(4)).decode()


def test_an_old_style_hash_still_signs_in_and_is_upgraded(client, auth, make_user):
    for name, password in (("alice", PASSWORD), ("bob", LONG)):
        user = make_user(name)
        User.update(password_hash=_legacy_hash(password)).where(User.id == user.id).execute()
        assert auth.login(name, password).status_code == 302
        upgraded = User.get_by_id(user.id).password_hash
        assert upgraded.startswith(accounts.HASH_MARKER)
        auth.logout()
        assert auth.login(name, password).status_code == 302
        assert User.get_by_id(user.id).password_hash == upgraded
        auth.logout()
    # Once upgraded, the hex string of bob's long password no longer works.
    hexed = hashlib.sha256(LONG.encode()).hexdigest()
    assert auth.login("bob", hexed).status_code == 200


def test_an_upgrade_keeps_every_session(app, client, auth, make_user):
    user = make_user("alice")
    User.update(password_hash=_legacy_hash(PASSWORD)).where(User.id == user.id).execute()
    earlier = AuthActions(app.test_client())
    earlier.login("alice")
    auth.login("alice")
    assert signed_in(earlier.client)


def test_a_random_secret_key_does_not_change_the_prehash(app, ctx, make_user):
    # The pre-hash is keyed with a fixed label, not the secret key: rotating it keeps passwords.
    user = make_user("alice", password=LONG)
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    assert accounts.password_matches(User.get_by_id(user.id), LONG)
