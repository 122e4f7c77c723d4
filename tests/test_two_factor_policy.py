"""Two-factor policy (issue 14, item 4): required of admins or everyone; users without
it are sent to enrol; a single sign-on counts when the provider says it did two-factor."""

import pytest
from test_two_factor import enrol

from tokenapp.models import AuditEvent


@pytest.fixture
def app_overrides(clock):
    return {"CLOCK": clock}


def set_policy(auth, value: str):
    response = auth.post("/admin/security", {"require": value})
    assert response.status_code == 302, response.text
    return response


def test_everyone_must_enrol_before_any_other_page(app, client, auth, make_user, clock, ctx):
    make_user("root", admin=True)
    make_user("bob")
    auth.login("root")
    set_policy(auth, "everyone")
    assert AuditEvent.select().where(AuditEvent.action == "policy.2fa").count() == 1
    # The admin themself: sent to enrol too.
    assert client.get("/tokens").headers["Location"].endswith("/account/security")
    auth.post("/logout", {}, form_page="/account/security")  # the page still open

    auth.login("bob")
    response = client.get("/tokens")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/account/security"
    )
    assert "requires two-factor" in client.get("/account/security").text
    enrol(client, auth, clock)
    assert client.get("/tokens").status_code == 200


def test_admins_only_leaves_others_alone(client, auth, make_user, clock, ctx):
    make_user("root", admin=True)
    make_user("bob")
    auth.login("root")
    set_policy(auth, "admins")
    assert client.get("/tokens").status_code == 302
    auth.post("/logout", {}, form_page="/account/security")  # the page still open
    auth.login("bob")
    assert client.get("/tokens").status_code == 200


def test_only_admins_set_the_policy(client, auth, make_user, ctx):
    make_user("root", admin=True)
    make_user("bob")
    auth.login("bob")
    assert auth.post("/admin/security", {"require": "everyone"}, form_page="/").status_code == 403
    assert client.get("/admin/security").status_code == 403


def test_an_unknown_policy_is_refused(client, auth, make_user, ctx):
    make_user("root", admin=True)
    auth.login("root")
    assert auth.post("/admin/security", {"require": "nobody?"}).status_code == 200
    assert not AuditEvent.select().where(AuditEvent.action == "policy.2fa").exists()


def test_a_temporary_password_and_the_policy_do_not_send_each_other_away(
    client, auth, make_user, clock, ctx
):
    from conftest import PASSWORD

    from tokenapp import accounts

    make_user("root", admin=True)
    bob = make_user("bob")
    auth.login("root")
    set_policy(auth, "everyone")
    auth.post("/logout", {}, form_page="/account/security")
    accounts.set_password(bob, "temporary password 1", must_change=True)
    auth.login("bob", "temporary password 1")
    assert client.get("/tokens").headers["Location"].endswith("/account#password-heading")
    assert client.get("/account").status_code == 200  # no loop: the password page opens
    changed = auth.post(
        "/account/password",
        {"current": "temporary password 1", "password": PASSWORD, "confirm": PASSWORD},
        form_page="/account",
    )
    assert changed.status_code in (302, 303)
    assert client.get("/tokens").headers["Location"].endswith("/account/security")
