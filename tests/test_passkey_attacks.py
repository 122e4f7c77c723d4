"""Passkey answers an attacker sends: real signed ones (tests/webauthn_support.py) sent
twice or from the wrong place, and broken ones. Each gets the page's clear error: never a
500, never a traceback or a multi-line record in the log, nothing registered twice."""

import logging
import re

import pytest
from webauthn_support import SoftAuthenticator
from webauthn_support import options_in

from tokenapp.ceremonies import SpentChallenge
from tokenapp.models import Passkey

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf(page: str) -> str:
    return CSRF.search(page).group(1)


def flashed(client, path: str) -> str:
    page = client.get(path).text
    return " ".join(re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', page))


def register(client, soft: SoftAuthenticator, page: str | None = None):
    page = page or client.get("/account/security").text
    answer = soft.create(options_in(page, "data-passkey-create"))
    data = {"credential": answer, "name": "laptop", "csrf_token": csrf(page)}
    return client.post("/account/security/passkeys", data=data), data


@pytest.fixture
def app_overrides(clock):
    return {"CLOCK": clock}


@pytest.fixture
def alice(client, auth, make_user):
    make_user("alice")
    assert auth.login("alice").status_code == 302
    return client


@pytest.fixture
def errors(caplog):
    """Log records at ERROR and above (an unhandled exception's traceback is one)."""
    caplog.set_level(logging.WARNING)
    return lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


DEEP = ["[" * 19000, '{"id":' * 2500 + "1" + "}" * 2500, '{"id": "AAAA", "x":' + "[" * 15000]


@pytest.mark.parametrize("credential", DEEP, ids=["list", "object", "inside"])
def test_a_deeply_nested_answer_is_malformed_not_a_server_error(
    client, auth, make_user, errors, credential
):
    make_user("alice")
    page = client.get("/login").text
    response = client.post(
        "/login/passkey", data={"credential": credential, "csrf_token": csrf(page)}
    )
    assert response.status_code == 302
    assert "The passkey answer is malformed." in flashed(client, "/login")
    assert errors() == []


def test_a_deeply_nested_second_step_answer_is_malformed_not_a_server_error(alice, auth, errors):
    assert register(alice, SoftAuthenticator())[0].status_code == 302
    auth.logout()
    assert auth.login("alice").headers["Location"].endswith("/login/2fa")
    page = alice.get("/login/2fa").text
    data = {"credential": DEEP[0], "csrf_token": csrf(page)}
    response = alice.post("/login/2fa/passkey", data=data)
    assert response.status_code == 400
    assert "The passkey answer is malformed." in response.text
    assert errors() == []


def test_a_passkey_already_registered_is_refused_not_a_server_error(alice, errors):
    soft = SoftAuthenticator()
    older = alice.get("/account/security").text  # two open pages, two challenges
    assert register(alice, soft)[0].status_code == 302
    assert register(alice, soft, older)[0].status_code == 302  # the same key, again
    assert "This passkey is already registered." in flashed(alice, "/account/security")
    assert Passkey.select().count() == 1
    assert errors() == []


def test_one_registration_answer_sent_twice_registers_once(alice, app, errors):
    """The second copy comes with the cookie from before the ceremony: another worker
    answering a double submit, or a cookie copied while the ceremony ran."""
    page = alice.get("/account/security").text
    before = alice.get_cookie("tokenapp_session").value
    first, data = register(alice, SoftAuthenticator(), page)
    assert first.status_code == 302
    other = app.test_client()
    other.set_cookie("tokenapp_session", before)
    assert other.post("/account/security/passkeys", data=data).status_code == 302
    assert Passkey.select().count() == 1
    assert errors() == []


FORGED_ORIGIN = "https://evil.example\nTraceback (most recent call last):\n" + "A" * 5000


def test_a_refused_answer_is_logged_on_one_short_line(alice, auth, caplog):
    """The library's reason quotes the answer's origin: the answer's sender writes it."""
    caplog.set_level(logging.WARNING, logger="tokenapp.passkeys")
    soft = SoftAuthenticator()
    assert register(alice, soft)[0].status_code == 302
    soft.origin = FORGED_ORIGIN
    assert register(alice, SoftAuthenticator(origin=FORGED_ORIGIN))[0].status_code == 302
    auth.logout()
    page = alice.get("/login").text
    answer = soft.get(options_in(page, "data-passkey-get"))
    alice.post("/login/passkey", data={"credential": answer, "csrf_token": csrf(page)})
    lines = [r.getMessage() for r in caplog.records if r.name == "tokenapp.passkeys"]
    assert len(lines) == 2, lines
    for line in lines:
        assert "evil.example" in line and "\n" not in line and len(line) < 300


def test_one_sign_in_answer_signs_in_once_whatever_cookie_comes_with_it(alice, auth, app):
    """A passkey whose counter stays 0 (as synced ones do) gives no replay away. A cookie
    copied from before the ceremony still lists the challenge: the server must remember
    it was spent, or a caught answer signs its thief in."""
    soft = SoftAuthenticator()
    assert register(alice, soft)[0].status_code == 302
    auth.logout()
    page = alice.get("/login").text
    before = alice.get_cookie("tokenapp_session").value
    data = {"credential": soft.get(options_in(page, "data-passkey-get")), "csrf_token": csrf(page)}
    assert alice.post("/login/passkey", data=data).headers["Location"] == "/"
    assert alice.get("/account").status_code == 200
    thief = app.test_client()
    thief.set_cookie("tokenapp_session", before)
    assert thief.post("/login/passkey", data=data).headers["Location"].endswith("/login")
    assert "already used" in flashed(thief, "/login")
    assert thief.get("/account").status_code == 302


def test_a_challenge_is_good_for_ten_minutes_and_its_record_then_goes(client, make_user, clock):
    make_user("alice")
    stranger = SoftAuthenticator()  # a key this site never saw: its challenge still counts

    def answer(page: str) -> str:
        data = {"credential": stranger.get(options_in(page, "data-passkey-get"))}
        client.post("/login/passkey", data={**data, "csrf_token": csrf(page)})
        return flashed(client, "/login")

    page = client.get("/login").text
    clock.advance(minutes=9, seconds=59)
    assert "not registered here" in answer(page)  # the challenge was good
    assert SpentChallenge.select().count() == 1
    page = client.get("/login").text
    clock.advance(minutes=11, seconds=1)  # its ten minutes and the clocks' skew allowance
    assert "took too long" in answer(page)
    assert "not registered here" in answer(client.get("/login").text)
    assert SpentChallenge.select().count() == 1  # the first one's record is gone


def test_two_pages_rendered_at_once_from_one_cookie_each_keep_their_challenge(alice, auth, app):
    """Two tabs loading together (or one page fetched twice) send the same cookie; the
    response landing last sets the cookie the browser keeps. The other page still works."""
    soft = SoftAuthenticator()
    assert register(alice, soft)[0].status_code == 302
    auth.logout()
    alice.get("/login")  # this browser's session, as any earlier page leaves it
    cookie = alice.get_cookie("tokenapp_session").value
    pages = []
    for _ in range(2):  # both requests leave with the same cookie
        alice.set_cookie("tokenapp_session", cookie)
        pages.append(alice.get("/login").text)
    first = {"credential": soft.get(options_in(pages[0], "data-passkey-get"))}
    response = alice.post("/login/passkey", data={**first, "csrf_token": csrf(pages[0])})
    assert response.headers["Location"] == "/"
    assert alice.get("/account").status_code == 200
    alice.get("/account/security")  # the same race when adding a passkey
    cookie = alice.get_cookie("tokenapp_session").value
    older = alice.get("/account/security").text
    alice.set_cookie("tokenapp_session", cookie)
    alice.get("/account/security")
    assert register(alice, SoftAuthenticator(), older)[0].status_code == 302
    assert "added" in flashed(alice, "/account/security")
    assert Passkey.select().count() == 2


def test_a_challenge_counts_only_for_the_ceremony_it_was_issued_for(alice, auth):
    """The sign-in page's passwordless challenge is no second step's, nor the reverse."""
    soft = SoftAuthenticator()
    assert register(alice, soft)[0].status_code == 302
    auth.logout()
    assert auth.login("alice").headers["Location"].endswith("/login/2fa")
    second_step = alice.get("/login/2fa").text
    passwordless = alice.get("/login").text  # still signed out: the sign-in page renders
    data = {"credential": soft.get(options_in(passwordless, "data-passkey-get"))}
    response = alice.post("/login/2fa/passkey", data={**data, "csrf_token": csrf(second_step)})
    assert response.status_code == 400 and "already used" in response.text
    data = {"credential": soft.get(options_in(second_step, "data-passkey-get"))}
    response = alice.post("/login/passkey", data={**data, "csrf_token": csrf(passwordless)})
    assert response.headers["Location"].endswith("/login")
    assert alice.get("/account").status_code == 302


def test_rendering_a_ceremony_writes_nothing_to_the_cookie(client, make_user):
    make_user("alice")
    client.get("/login")  # the session's CSRF secret, as the first page with a form makes it
    page = client.get("/login")
    assert "data-passkey-get" in page.text and "Set-Cookie" not in page.headers


def test_a_challenge_from_a_node_whose_clock_runs_a_little_ahead_still_counts(
    client, make_user, clock
):
    """Two nodes' clocks differ by NTP's drift: the page comes from one, the answer goes to
    the other. A little ahead counts; far ahead does not, and neither outlives its record."""
    make_user("alice")
    stranger = SoftAuthenticator()

    def answer(page: str) -> str:
        data = {"credential": stranger.get(options_in(page, "data-passkey-get"))}
        client.post("/login/passkey", data={**data, "csrf_token": csrf(page)})
        return flashed(client, "/login")

    clock.advance(seconds=30)  # the node that renders the page runs 30 s ahead
    page = client.get("/login").text
    clock.advance(seconds=-30)
    assert "not registered here" in answer(page)  # the challenge was good
    clock.advance(minutes=10, seconds=15)  # past CHALLENGE_SECONDS from the answer's time,
    assert "already used" in answer(page)  # still within the page's own window: refused

    clock.advance(minutes=5)
    page = client.get("/login").text
    clock.advance(minutes=-5)  # five minutes ahead is no drift
    assert "took too long" in answer(page)
