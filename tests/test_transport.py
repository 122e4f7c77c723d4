"""Requests that carry NUL characters are refused before any database sees them."""

import pytest
from conftest import assert_problem
from conftest import bearer


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/%00",
        "/api/v1/projects/acme/dashboards?cursor=%00",
        "/api/v1/auth/check?project=a%00b",
    ],
)
def test_api_refuses_nul_with_a_problem(client, make_token, path):
    _, secret = make_token()
    assert_problem(client.get(path, headers=bearer(secret)), 400)


def test_pages_refuse_nul_in_paths_and_forms(client):
    assert client.get("/projects/%00").status_code == 400
    response = client.post("/login", data={"username": "a\x00b", "password": "x"})
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)


REMOTE = {"REMOTE_ADDR": "10.20.30.40"}


def test_plain_http_to_another_machine_shows_a_warning_banner(client, make_user):
    make_user("alice")  # past setup: /login is the sign-in page
    remote = client.get("/login", environ_base=REMOTE).get_data(as_text=True)
    assert "This page came over plain HTTP" in remote
    local = client.get("/login").get_data(as_text=True)
    assert "This page came over plain HTTP" not in local
    secure = client.get("/login", environ_base=REMOTE, base_url="https://localhost")
    assert "This page came over plain HTTP" not in secure.get_data(as_text=True)


@pytest.mark.parametrize("app_overrides", [{"REQUIRE_HTTPS": True}])
def test_require_https_refuses_plain_http_from_another_machine(client, make_token, make_user):
    make_user("alice")
    _, secret = make_token()
    page = client.get("/login", environ_base=REMOTE)
    assert page.status_code == 403 and "HTTPS only" in page.get_data(as_text=True)
    assert_problem(client.get("/api/v1/auth/verify", environ_base=REMOTE), 403)
    assert client.get("/login").status_code == 200  # loopback stays open (make run)
    secure = client.get("/login", environ_base=REMOTE, base_url="https://localhost")
    assert secure.status_code == 200
    verified = client.get(
        "/api/v1/auth/verify", headers=bearer(secret), environ_base=REMOTE, base_url="https://x"
    )
    assert verified.status_code == 200


def test_every_page_is_no_store_once_from_transport(client, make_user, auth):
    """The security and sessions pages no longer set no-store themselves: transport does,
    for every HTML response, once."""
    make_user("alice")
    auth.login("alice")
    for path in ("/account/security", "/account/sessions", "/tokens", "/login/sso"):
        response = client.get(path)
        assert response.mimetype == "text/html", path
        assert response.headers.getlist("Cache-Control") == ["no-store"], path
