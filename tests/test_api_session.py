"""API requests leave the session alone (DESIGN: the API never reads it): no cookie is
set or varied on, flask-login loads nobody, and the pages still enforce CSRF."""

import pytest
from conftest import bearer

from tokenapp.accounts import login_manager


@pytest.fixture
def loads(app, monkeypatch):
    """Every time flask-login asks for a user (session or remember cookie)."""
    calls = []
    original = login_manager._load_user

    def counted():
        calls.append(1)
        return original()

    monkeypatch.setattr(login_manager, "_load_user", counted)
    return calls


@pytest.mark.parametrize("app_overrides", [{"FAST_PATH": False}, {"FAST_PATH": True}])
def test_an_api_request_with_a_signed_in_browsers_cookies_touches_no_session(
    client, auth, make_user, make_token, loads
):
    alice = make_user("alice")
    _, pat = make_token(["dashboard"], user=alice)
    assert auth.login("alice").status_code == 302
    client.set_cookie("remember_token", "1|forged")  # flask-login's remember cookie
    loads.clear()
    for path in ("/api/v1/auth/verify", "/api/v1/personal-access-tokens", "/api/v1/projects"):
        response = client.get(path, headers=bearer(pat))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    assert loads == []  # flask-login never looked at the session or the remember cookie
    # The pages still see the signed-in user.
    assert client.get("/tokens").status_code == 200
    assert loads


def test_the_pages_still_refuse_a_form_without_its_csrf_token(app, client, auth, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user("alice")
    response = client.post("/login", data={"username": "alice", "password": "x" * 12})
    assert response.status_code == 400
    assert b"CSRF" in response.data


def test_the_api_needs_no_csrf_token(app, client, make_token):
    app.config["WTF_CSRF_ENABLED"] = True
    _, pat = make_token(["dashboard"])
    response = client.post(
        "/api/v1/personal-access-tokens",
        json={"note": "n", "scopes": ["dashboard:view"], "expiration": 30},
        headers=bearer(pat),
    )
    assert response.status_code == 201


def test_a_static_file_leaves_the_session_alone(client, auth, make_user, loads):
    """A late asset response must not put back the cookie from before a newer page's
    (a passkey ceremony's challenge lives in the session: CI lost one that way)."""
    make_user("alice")
    assert auth.login("alice").status_code == 302
    loads.clear()
    for path in ("/static/app.css", "/static/passkeys.js", "/static/favicon.svg"):
        with client.get(path) as response:
            assert response.status_code == 200
            assert "Set-Cookie" not in response.headers
            assert "Cookie" not in response.headers.get("Vary", "")
    assert loads == []
