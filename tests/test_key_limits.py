"""Limits only tighten (issue 12) for project keys: what a PAT makes or changes through the
key API lies within the PAT itself, as for the PATs it makes (test_access_holes.py).

Every request goes through the real API from inside the caller's allowlist; run on
PostgreSQL too: TOKENAPP_TEST_BACKEND=postgresql (conftest's database_url).
"""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import lifecycle
from tokenapp import service_accounts
from tokenapp.api.serializers import timestamp
from tokenapp.models import AuditEvent
from tokenapp.models import Credential

EVERY = ["automation", "company", "connector_auth", "connectors", "dashboard", "embed"]
KEYS = "/api/v1/projects/acme/keys"
TOKENS = "/api/v1/personal-access-tokens"
VERIFY = "/api/v1/auth/verify"
# The caller: a PAT of the key's member, every scope (a full key needs them), these limits.
LIMITED = {"ip_allowlist": ["10.0.0.0/8"], "rate_limit": 60, "days": 30}
OPEN = {"ip_allowlist": None, "rate_limit": None, "days": None}
TIGHTER = {"ip_allowlist": ["10.1.0.0/16"], "rate_limit": 30}
LOOSER = [
    {"ip_allowlist": None},
    {"ip_allowlist": ["0.0.0.0/0"]},
    {"ip_allowlist": ["10.0.0.0/8", "192.168.0.0/16"]},
    {"rate_limit": None},
    {"rate_limit": 61},
]


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def acme(make_project, bob):
    return make_project("acme", owner=bob)


@pytest.fixture
def caller(app, clock, make_token, bob, acme):
    """A PAT of bob's with the given limits: returns (credential, request kwargs)."""
    app.config["CLOCK"] = clock

    def make(ip_allowlist, rate_limit, days):
        credential, secret = make_token(EVERY, user=bob, days=days)
        lifecycle.update(credential, ip_allowlist=ip_allowlist, rate_limit=rate_limit)
        return credential, inside(secret)

    return make


def inside(secret: str) -> dict:
    return {
        "headers": bearer(secret),
        "base_url": "https://tokenapp.test",
        "environ_base": {"REMOTE_ADDR": "10.1.2.3"},
    }


def key_of(holder, ip_allowlist=None, rate_limit=None, expires_at=None) -> Credential:
    """A key as the pages make it (no limits, no expiry), then limited."""
    project = holder.memberships.get().project
    credential, _ = lifecycle.issue("full", holder, "ci", project=project)
    lifecycle.update(credential, ip_allowlist=ip_allowlist, rate_limit=rate_limit)
    Credential.update(expires_at=expires_at).where(Credential.id == credential.id).execute()
    return Credential.get_by_id(credential.id)


def refused_for_limits(response) -> dict:
    problem = assert_problem(response, 403)
    assert problem["refused_by"] == "limits"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    return problem


# Create: caller's limits x body -> status, and what the key gets.
CREATE_TABLE = [
    (LIMITED, {}, 201),  # omitted limits are the caller's own
    (LIMITED, TIGHTER, 201),
    (LIMITED, {"ip_allowlist": ["10.0.0.0/8"], "rate_limit": 60}, 201),  # equal is within
    *[(LIMITED, body, 403) for body in LOOSER],
    (OPEN, {}, 201),  # an unlimited token makes what it likes, as before
    (OPEN, {"ip_allowlist": ["0.0.0.0/0"], "rate_limit": 100_000}, 201),
]


@pytest.mark.parametrize(("limits", "body", "status"), CREATE_TABLE)
def test_create_within_the_callers_limits(client, caller, limits, body, status):
    pat, kwargs = caller(**limits)
    response = client.post(KEYS, json={"kind": "full", "label": "ci", **body}, **kwargs)
    if status == 403:
        refused_for_limits(response)
        assert not Credential.select().where(Credential.kind == "full").exists()
        return
    assert response.status_code == 201, response.get_data(as_text=True)
    made = response.get_json()
    for name in ("ip_allowlist", "rate_limit"):
        assert made[name] == body.get(name, limits[name]), name
    assert made["expiration"] == timestamp(pat.expires_at)  # None for a token that never expires


@pytest.mark.parametrize("looser", LOOSER)
def test_a_key_refusal_is_the_token_refusal(client, caller, looser):
    """One helper, one message: the key API refuses a looser body as the PAT API does."""
    _, kwargs = caller(**LIMITED)
    for_key = client.post(KEYS, json={"kind": "full", "label": "ci", **looser}, **kwargs)
    child = {"expiration": 7, "scopes": ["dashboard:view"], "note": "child", **looser}
    for_token = client.post(TOKENS, json=child, **kwargs)
    assert refused_for_limits(for_key) == refused_for_limits(for_token)


def test_a_key_made_by_an_expiring_token_ends_with_it(client, clock, caller):
    pat, kwargs = caller(ip_allowlist=None, rate_limit=None, days=30)
    made = client.post(KEYS, json={"kind": "full", "label": "ci"}, **kwargs).get_json()
    assert made["expiration"] == timestamp(pat.expires_at) and made["state"] == "active"
    listed = client.get(KEYS, **kwargs).get_json()
    assert [k["expiration"] for k in listed] == [made["expiration"]]
    verified = client.get(VERIFY, headers=bearer(made["key"]))
    assert verified.get_json()["credential"]["expires_at"] == made["expiration"]
    clock.advance(days=30, seconds=-1)
    assert client.get(VERIFY, headers=bearer(made["key"])).status_code == 200
    clock.advance(seconds=1)
    assert (
        "expired" in assert_problem(client.get(VERIFY, headers=bearer(made["key"])), 401)["detail"]
    )


# PATCH and regenerate touch only a key within the caller's limits; DELETE any.
WITHIN = {"ip_allowlist": ["10.1.0.0/16"], "rate_limit": 30}
TOUCH_TABLE = [  # the key's current limits -> PATCH label, regenerate, DELETE
    ({}, 403, 403, 204),  # a key from the pages: no allowlist, no rate limit
    ({"ip_allowlist": ["10.1.0.0/16"]}, 403, 403, 204),  # no rate limit
    ({"rate_limit": 30}, 403, 403, 204),  # no allowlist
    ({"ip_allowlist": ["10.0.0.0/8", "192.168.0.0/16"], "rate_limit": 30}, 403, 403, 204),
    ({"ip_allowlist": ["10.1.0.0/16"], "rate_limit": 61}, 403, 403, 204),
    (WITHIN, 200, 200, 204),
    ({"ip_allowlist": ["10.0.0.0/8"], "rate_limit": 60}, 200, 200, 204),
]


@pytest.mark.parametrize(("current", "patch", "regenerate", "delete"), TOUCH_TABLE)
def test_a_limited_token_touches_only_keys_within_it(
    client, bob, caller, current, patch, regenerate, delete
):
    _, kwargs = caller(**LIMITED)
    key = key_of(bob, **current)
    url = f"{KEYS}/{key.id}"
    for response, status in (
        (client.patch(url, json={"label": "renamed"}, **kwargs), patch),
        (client.post(f"{url}/regenerate", json={}, **kwargs), regenerate),
    ):
        if status == 403:
            refused_for_limits(response)
        else:
            assert response.status_code == status, response.get_data(as_text=True)
    unchanged = Credential.get_by_id(key.id)
    if patch == 403:
        assert unchanged.note == "ci"
        assert not AuditEvent.select().where(AuditEvent.action == "credential.regenerate").exists()
    assert client.delete(url, **kwargs).status_code == delete  # revoking only tightens


@pytest.mark.parametrize("looser", LOOSER)
def test_patch_sets_limits_only_within_the_callers(client, bob, caller, looser):
    _, kwargs = caller(**LIMITED)
    key = key_of(bob, **WITHIN)
    refused_for_limits(client.patch(f"{KEYS}/{key.id}", json=looser, **kwargs))
    assert Credential.get_by_id(key.id).ip_allowlist == WITHIN["ip_allowlist"]
    tighter = {"ip_allowlist": ["10.1.2.0/24"], "rate_limit": 5}
    response = client.patch(f"{KEYS}/{key.id}", json=tighter, **kwargs)
    assert response.status_code == 200
    assert {name: response.get_json()[name] for name in tighter} == tighter


def test_an_owner_with_a_limited_token_cannot_loosen_a_service_accounts_key(
    client, bob, acme, caller
):
    deploy = service_accounts.add(acme, "deploy", "editor", actor=bob)
    _, kwargs = caller(**LIMITED)
    body = {"kind": "full", "label": "ci", "user": deploy.username, "rate_limit": None}
    refused_for_limits(client.post(KEYS, json=body, **kwargs))
    open_key = key_of(deploy)
    refused_for_limits(client.post(f"{KEYS}/{open_key.id}/regenerate", json={}, **kwargs))
    within = key_of(deploy, **WITHIN)
    assert client.post(f"{KEYS}/{within.id}/regenerate", json={}, **kwargs).status_code == 200


# Regenerate: the new secret ends with the token that asks for it.
REGENERATE_TABLE = [  # caller's days, key's expiry (days from now) -> key's expiry afterwards
    (30, None, "caller"),  # a key from the pages, rotated by a 30-day token, ends with it
    (30, 60, "caller"),
    (30, 10, "caller"),  # rotating extends it to the caller's end, never past it
    (None, 10, None),  # an unexpiring token makes unexpiring keys, rotating too
]


@pytest.mark.parametrize(("days", "key_days", "after"), REGENERATE_TABLE)
def test_a_regenerated_key_ends_with_the_token_that_regenerates_it(
    client, clock, bob, caller, days, key_days, after
):
    pat, kwargs = caller(ip_allowlist=None, rate_limit=None, days=days)
    key = key_of(bob, expires_at=lifecycle.expiry(key_days))
    response = client.post(f"{KEYS}/{key.id}/regenerate", json={}, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    fresh = response.get_json()
    expected = pat.expires_at if after == "caller" else None
    assert fresh["expiration"] == timestamp(expected)
    assert Credential.get_by_id(key.id).expires_at == expected
    if expected is not None:
        clock.now = expected
        assert_problem(client.get(VERIFY, headers=bearer(fresh["key"])), 401)
