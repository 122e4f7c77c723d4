"""Forms over HTTPS: the pages let the browser send its same-origin Referer, which
Flask-WTF's strict check needs, and a POST from another origin is still refused.

The browser side of this (Chromium signing in over HTTPS, directly and behind
nginx) is in tests/test_browser.py; here the requests are the ones a browser
would send, with the Referer and Origin it would put on them.
"""

import re

import pytest
from conftest import PASSWORD

HTTPS = "https://tokenapp.test"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def login(client, *, base_url: str = HTTPS, headers: dict):
    page = client.get("/login", base_url=base_url, headers=headers)
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    return client.post(
        "/login",
        base_url=base_url,
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        headers=headers,
    )


def test_pages_send_referrers_to_their_own_origin_only(client):
    # no-referrer made browsers send no Referer at all, and over HTTPS Flask-WTF refuses a form
    # POST without one: nobody could sign in over HTTPS.
    response = client.get("/login", base_url=HTTPS)
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_sign_in_over_https_with_the_referer_a_browser_sends(client, make_user):
    make_user("alice")
    response = login(client, headers={"Referer": f"{HTTPS}/login", "Origin": HTTPS})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert client.get("/account", base_url=HTTPS).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},  # what a page with Referrer-Policy: no-referrer makes the browser send
        {"Origin": "null"},
        {"Referer": "https://evil.example/login", "Origin": "https://evil.example"},
        {"Referer": "https://tokenapp.test.evil.example/", "Origin": "https://evil.example"},
        {"Referer": "http://tokenapp.test/login", "Origin": "http://tokenapp.test"},  # downgraded
        {"Referer": "https://tokenapp.test:8443/login"},  # another origin on the same host
    ],
    ids=["no-referer", "null-origin", "foreign", "look-alike", "plain-http", "other-port"],
)
def test_a_post_from_another_origin_over_https_is_refused(client, make_user, headers):
    make_user("alice")
    response = login(client, headers=headers)
    assert response.status_code == 400
    assert client.get("/account", base_url=HTTPS).status_code != 200


PROXY = {"TRUSTED_PROXIES": ["127.0.0.1"]}
FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "tokenapp.intranet",
    "X-Forwarded-Port": "443",
    "X-Forwarded-For": "10.1.2.3",
}


@pytest.mark.parametrize("app_overrides", [PROXY])
def test_behind_a_trusted_proxy_the_public_origin_is_the_one_checked(client, make_user):
    make_user("alice")
    app = "http://127.0.0.1:8000"  # what the proxy connects to
    foreign = login(
        client, base_url=app, headers={**FORWARDED, "Referer": f"{app}/login", "Origin": app}
    )
    assert foreign.status_code == 400
    public = "https://tokenapp.intranet"
    response = login(
        client,
        base_url=app,
        headers={**FORWARDED, "Referer": f"{public}/login", "Origin": public},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
