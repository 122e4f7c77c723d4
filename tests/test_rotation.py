"""Rotation with overlap (Stripe's roll): the old secret works until its grace ends."""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import lifecycle
from tokenapp.models import AuditEvent

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def timed(ctx, clock):
    ctx.config["CLOCK"] = clock
    return clock


def _regenerate(client, credential, secret, **body):
    return client.post(
        f"/api/v1/personal-access-tokens/{credential.id}/regenerate",
        json={"expiration": 30, **body},
        headers=bearer(secret),
    )


def _works(client, secret) -> bool:
    return client.get(VERIFY, headers=bearer(secret)).status_code == 200


def test_old_token_works_during_grace_and_is_refused_right_after(client, timed, make_token):
    credential, old = make_token(["dashboard"])
    response = _regenerate(client, credential, old, grace=2)
    assert response.status_code == 200
    new = response.get_json()["token"]
    assert response.get_json()["previous_secret_expires_at"] == "2030-01-03T12:00:00Z"
    assert _works(client, old) and _works(client, new)
    described = client.get(VERIFY, headers=bearer(old)).get_json()["credential"]
    assert described["secret_expires_at"] == "2030-01-03T12:00:00Z"
    assert (
        client.get(VERIFY, headers=bearer(new)).get_json()["credential"]["secret_expires_at"]
        is None
    )

    timed.advance(days=2, seconds=-1)
    assert _works(client, old)
    timed.advance(seconds=1)
    refused = client.get(VERIFY, headers=bearer(old))
    body = assert_problem(refused, 401)
    assert "regenerated" in body["detail"]
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert _works(client, new)


@pytest.mark.parametrize("body", [{"grace": 0}, {}])
def test_grace_zero_or_absent_refuses_the_old_secret_at_once(client, timed, make_token, body):
    credential, old = make_token(["dashboard"])
    response = _regenerate(client, credential, old, **body)
    new = response.get_json()["token"]
    assert response.get_json()["previous_secret_expires_at"] is None
    assert_problem(client.get(VERIFY, headers=bearer(old)), 401)
    assert _works(client, new)


@pytest.mark.parametrize("grace", [8, -1, 1.5, "1", True, None])
def test_grace_outside_0_to_7_whole_days_is_422(client, timed, make_token, grace):
    credential, old = make_token(["dashboard"])
    assert_problem(_regenerate(client, credential, old, grace=grace), 422, field="grace")
    assert _works(client, old)


def test_grace_of_7_days_is_the_maximum(client, timed, make_token):
    credential, old = make_token(["dashboard"])
    response = _regenerate(client, credential, old, grace=7)
    assert response.get_json()["previous_secret_expires_at"] == "2030-01-08T12:00:00Z"


def test_token_page_in_the_api_shows_the_overlap_until_it_ends(client, timed, make_token):
    credential, old = make_token(["dashboard"])
    new = _regenerate(client, credential, old, grace=1).get_json()["token"]
    path = f"/api/v1/personal-access-tokens/{credential.id}"
    assert client.get(path, headers=bearer(new)).get_json()["previous_secret_expires_at"]
    timed.advance(days=1)
    assert client.get(path, headers=bearer(new)).get_json()["previous_secret_expires_at"] is None


def test_a_second_roll_keeps_the_first_secrets_own_deadline(client, timed, make_token):
    credential, first = make_token(["dashboard"])
    second = _regenerate(client, credential, first, grace=3).get_json()["token"]
    timed.advance(days=1)
    third = _regenerate(client, credential, second, grace=5, expiration=29).get_json()["token"]
    timed.advance(days=2)  # day 3: the first secret's grace is over
    assert not _works(client, first)
    assert _works(client, second) and _works(client, third)
    timed.advance(days=3)  # day 6: the second's is over too
    assert not _works(client, second)
    assert _works(client, third)


def test_rotation_is_audited_with_its_grace(client, timed, make_token):
    credential, old = make_token(["dashboard"])
    _regenerate(client, credential, old, grace=2)
    event = AuditEvent.get(AuditEvent.action == "credential.regenerate")
    assert event.target == str(credential.id)
    assert event.detail == {"grace_days": 2}
    assert event.actor_name == credential.user.username


@pytest.mark.parametrize("kind", ["full", "export"])
def test_project_keys_roll_with_grace_too(client, timed, make_user, make_project, make_key, kind):
    owner = make_user()
    project = make_project(owner=owner)
    credential, old = make_key(project, owner, kind)
    new = lifecycle.regenerate(credential, grace_days=1, actor=owner)
    assert _works(client, old) and _works(client, new)
    if kind == "export":
        assert lifecycle.export_secret(credential) == new  # only the new one is shown
    timed.advance(days=1)
    assert not _works(client, old)
    assert _works(client, new)


def test_full_key_regenerated_without_grace_stops_at_once(
    client, timed, make_user, make_project, make_key
):
    owner = make_user()
    credential, old = make_key(make_project(owner=owner), owner, "full")
    new = lifecycle.regenerate(credential, actor=owner)
    assert not _works(client, old)
    assert _works(client, new)
