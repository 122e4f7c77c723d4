"""Sign-in throttling through the login page (issue 11 finding 7).

Failures count per (username, address) and per address with a much higher
ceiling; a username collects a growing delay, but only for addresses that
failed for it, so nobody elsewhere can keep its owner out.
"""

import re

import pytest
from conftest import PASSWORD
from conftest import AuthActions

from tokenapp.models import AuditEvent
from tokenapp.models import User
from tokenapp.web.session import BAD_LOGIN

WRONG = "wrong password!"


@pytest.fixture
def timed(app, clock):
    app.config["CLOCK"] = clock
    return clock


def attempt(auth, username, address, password=WRONG):
    return auth.post(
        "/login",
        {"username": username, "password": password},
        form_page="/login",
        environ_base={"REMOTE_ADDR": address},
    )


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def test_an_attacker_elsewhere_cannot_keep_the_user_out(app, client, auth, make_user, timed):
    make_user("admin", admin=True)
    attacker = AuthActions(app.test_client())
    for round_ in range(3):
        for n in range(5):
            attempt(attacker, "admin", f"203.0.113.{round_ * 5 + n}")
        assert attempt(attacker, "admin", "203.0.113.99").status_code in (200, 429)
        timed.advance(seconds=30)
    # The admin, from their own address, with their password: in at once.
    response = attempt(auth, "admin", "192.0.2.10", PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)


def test_a_colleague_behind_the_same_nat_still_gets_in(app, client, auth, make_user, timed):
    make_user("alice")
    make_user("bob")
    clumsy = AuthActions(app.test_client())
    for _ in range(6):
        attempt(clumsy, "alice", "198.51.100.1")
    assert attempt(clumsy, "alice", "198.51.100.1", PASSWORD).status_code == 429
    assert attempt(auth, "bob", "198.51.100.1", PASSWORD).status_code == 302
    assert signed_in(client)


def test_the_page_warns_before_the_limit(auth, make_user, timed):
    make_user("alice")
    pages = [text(attempt(auth, "alice", "198.51.100.2")) for _ in range(5)]
    assert all(BAD_LOGIN in page for page in pages)
    assert "attempts left" not in pages[0] and "attempts left" not in pages[1]
    assert "2 attempts left" in pages[2]
    assert "1 attempt left" in pages[3]
    assert "paused" in pages[4]
    # An unknown username gets the same warnings: they name nobody.
    assert "2 attempts left" in [text(attempt(auth, "nobody", "198.51.100.2")) for _ in range(3)][2]


def test_the_pair_pauses_with_retry_after_until_the_window_ends(client, auth, make_user, timed):
    make_user("alice")
    for _ in range(5):
        attempt(auth, "alice", "198.51.100.3")
    response = attempt(auth, "alice", "198.51.100.3", PASSWORD)
    assert response.status_code == 429
    assert 15 * 60 - 1 <= int(response.headers["Retry-After"]) <= 15 * 60 + 1
    assert not signed_in(client)
    timed.advance(minutes=15, seconds=1)
    assert attempt(auth, "alice", "198.51.100.3", PASSWORD).status_code == 302


def test_a_username_collects_a_growing_delay_for_addresses_that_failed(auth, make_user, timed):
    make_user("alice")
    # Spread over many addresses: each stays under its own limit.
    for n in range(5):
        attempt(auth, "alice", f"10.9.0.{n}")
    waits = []
    for n in range(4):
        address = f"10.9.0.{n}"
        response = attempt(auth, "alice", address)
        assert response.status_code == 429, n
        wait = int(response.headers["Retry-After"])
        assert f"Try again in {wait} second" in text(response)
        waits.append(wait)
        timed.advance(seconds=wait)
        assert attempt(auth, "alice", address).status_code == 200  # counted, and the delay grows
    assert waits == sorted(waits) and waits[-1] > waits[0] >= 1, waits
    # Meanwhile an address that did not fail is not refused.
    assert attempt(auth, "alice", "10.9.1.1", PASSWORD).status_code == 302


def test_an_address_pauses_at_a_much_higher_ceiling(app, auth, make_user, timed):
    app.config["LOGIN_ADDRESS_FAILURE_LIMIT"] = 12
    make_user("alice")
    for n in range(12):
        assert attempt(auth, f"guess{n}", "192.0.2.50").status_code == 200
    response = attempt(auth, "alice", "192.0.2.50", PASSWORD)
    assert response.status_code == 429 and "Retry-After" in response.headers
    assert attempt(auth, "alice", "192.0.2.51", PASSWORD).status_code == 302


def test_ipv6_addresses_count_by_their_64_network(auth, make_user, timed):
    make_user("alice")
    for n in range(5):
        attempt(auth, "alice", f"2001:db8:1:2::{n + 1:x}")
    assert attempt(auth, "alice", "2001:db8:1:2::ffff", PASSWORD).status_code == 429
    assert attempt(auth, "alice", "2001:db8:1:3::1", PASSWORD).status_code == 302


def test_success_forgets_the_failures_of_that_address(auth, make_user, timed):
    make_user("alice")
    for _ in range(4):
        attempt(auth, "alice", "10.1.0.1")
    assert attempt(auth, "alice", "10.1.0.1", PASSWORD).status_code == 302
    auth.logout()
    for _ in range(4):
        attempt(auth, "alice", "10.1.0.1")
    timed.advance(minutes=1)  # past the username's delay (8 failures by now), inside the window
    assert attempt(auth, "alice", "10.1.0.1", PASSWORD).status_code == 302


def test_cli_unlock_clears_the_pause_and_is_audited(app, auth, make_user, timed):
    make_user("alice")
    for _ in range(5):
        attempt(auth, "alice", "10.2.0.1")
    assert attempt(auth, "alice", "10.2.0.1", PASSWORD).status_code == 429
    result = app.test_cli_runner().invoke(args=["user", "unlock", "Alice"])
    assert result.exit_code == 0, result.output
    assert attempt(auth, "alice", "10.2.0.1", PASSWORD).status_code == 302
    assert AuditEvent.get(AuditEvent.action == "user.unlock").target == "alice"


def test_cli_unlock_of_an_unknown_user_is_an_error(app, ctx):
    result = app.test_cli_runner().invoke(args=["user", "unlock", "nobody"])
    assert result.exit_code != 0 and "No user" in result.output


def test_admin_button_unlocks_and_is_audited(app, auth, make_user, timed):
    admin = make_user("root", admin=True)
    alice = make_user("alice")
    alices = AuthActions(app.test_client())
    for _ in range(5):
        attempt(alices, "alice", "10.3.0.1")
    attempt(auth, "root", "10.3.0.9", PASSWORD)
    page = text(auth.client.get("/admin/users"))
    assert "Unlock" in page and "5 failed sign-ins" in page
    response = auth.post(f"/admin/users/{alice.id}/unlock", {}, form_page="/admin/users")
    assert response.status_code == 302
    assert attempt(alices, "alice", "10.3.0.1", PASSWORD).status_code == 302
    event = AuditEvent.get(AuditEvent.action == "user.unlock")
    assert event.target == "alice" and event.actor_id == admin.id


def test_the_unlock_button_is_for_admins_only(app, auth, make_user, timed):
    alice = make_user("alice")
    make_user("bob")
    attempt(auth, "bob", "10.4.0.1", PASSWORD)
    response = auth.post(f"/admin/users/{alice.id}/unlock", {}, form_page="/account")
    assert response.status_code == 403
    assert not AuditEvent.select().where(AuditEvent.action == "user.unlock").exists()
    assert User.get_by_id(alice.id).is_active


def test_a_wrong_current_password_on_the_account_page_counts_like_a_sign_in(auth, make_user, timed):
    make_user("alice")
    attempt(auth, "alice", "10.5.0.1", PASSWORD)
    data = {"current": WRONG, "password": "a brand new passphrase"}
    data["confirm"] = data["password"]
    statuses = [
        auth.post(
            "/account/password",
            data,
            form_page="/account",
            environ_base={"REMOTE_ADDR": "10.5.0.1"},
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [400] * 5 + [429]
