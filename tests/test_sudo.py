"""Sudo mode (issue 14, item 5): a dangerous change asks again for the password or a code
when the sign-in is older than SUDO_SECONDS, and then goes ahead as it was sent."""

import re

import pytest
from conftest import PASSWORD
from test_two_factor import enrol

from tokenapp.models import AuditEvent
from tokenapp.models import Credential
from tokenapp.models import User

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def app_overrides(clock):
    return {"SUDO_SECONDS": -1, "CLOCK": clock}  # every sign-in is already too old


def write_token(auth, **extra):
    data = {"note": "deploy", "expiry": "30", "scope_automation": "manage", **extra}
    return auth.post("/tokens/new", data)


def test_a_write_token_asks_again_and_then_goes_ahead(client, auth, make_user, ctx):
    make_user("alice")
    auth.login("alice")
    response = write_token(auth)
    assert response.status_code == 403 and "Confirm it is you" in response.text
    assert Credential.select().count() == 0
    kept = dict(HIDDEN.findall(response.text))
    assert kept["note"] == "deploy" and kept["scope_automation"] == "manage"

    wrong = auth.post("/tokens/new", {**kept, "sudo_password": "not it"}, form_page="/tokens")
    assert wrong.status_code == 403 and "did not match" in wrong.text
    assert Credential.select().count() == 0

    right = auth.post("/tokens/new", {**kept, "sudo_password": PASSWORD}, form_page="/tokens")
    assert right.status_code == 201
    assert Credential.select().count() == 1
    actions = {e.action for e in AuditEvent.select()}
    assert {"sudo", "sudo.failure"} <= actions


def test_a_read_only_token_does_not_ask(auth, make_user, ctx):
    make_user("alice")
    auth.login("alice")
    response = auth.post(
        "/tokens/new", {"note": "grafana", "expiry": "30", "scope_dashboard": "view"}
    )
    assert response.status_code == 201


def test_the_webhook_and_admin_switches_ask(auth, make_user, ctx):
    make_user("root", admin=True)
    bob = make_user("bob")
    auth.login("root")
    response = auth.post("/account/webhook", {"webhook_url": "https://chat.example/hook"})
    assert response.status_code == 403
    response = auth.post(f"/admin/users/{bob.id}/active", {"value": "0"}, form_page="/admin/users")
    assert response.status_code == 403
    assert User.get_by_id(bob.id).is_active


def test_a_second_factor_code_confirms_too(client, auth, make_user, clock, ctx):
    make_user("alice")
    auth.login("alice")
    phone, _ = enrol(client, auth, clock)
    clock.advance(seconds=30)
    first = write_token(auth)
    kept = dict(HIDDEN.findall(first.text))
    assert 'name="sudo_code"' in first.text
    done = auth.post("/tokens/new", {**kept, "sudo_code": phone.code()}, form_page="/tokens")
    assert done.status_code == 201


@pytest.mark.parametrize("app_overrides", [{"SUDO_SECONDS": 600}])
def test_a_fresh_sign_in_is_enough(auth, make_user, ctx):
    make_user("alice")
    auth.login("alice")
    assert write_token(auth).status_code == 201
