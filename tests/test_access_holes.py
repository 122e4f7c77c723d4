"""The holes where copies of the access rules disagreed (issue 12), each through the API."""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import audit
from tokenapp import lifecycle
from tokenapp import projects

CHECK = "/api/v1/auth/check"
TOKENS = "/api/v1/personal-access-tokens"
VERIFY = "/api/v1/auth/verify"
CHILD = {"expiration": 30, "scopes": ["dashboard:view"], "note": "child"}


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def project(make_project, owner):
    return make_project("acme", owner=owner)


def refused(response) -> dict:
    problem = assert_problem(response, 403)
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert problem["refused_by"]
    return problem


# /auth/check: the original method is an operation, for every credential.


def test_a_view_token_may_not_delete_behind_check(client, make_token, owner, project):
    _, secret = make_token(["dashboard:view"], user=owner)
    query = {"project": "acme", "scope": "dashboard:view"}
    assert client.get(CHECK, query_string=query, headers=bearer(secret)).status_code == 204
    for header in ("X-Original-Method", "X-Forwarded-Method"):
        response = client.get(
            CHECK, query_string=query, headers={**bearer(secret), header: "DELETE"}
        )
        assert refused(response)["refused_by"] == "scope"


def test_a_viewers_full_key_may_not_delete_behind_check(client, make_key, make_user, project):
    viewer = make_user("viewer")
    projects.add_member(project, viewer, "viewer")
    _, key = make_key(project, viewer, "full")
    query = {"project": "acme", "scope": "dashboard:view"}
    headers = {**bearer(key), "X-Original-Method": "DELETE"}
    assert refused(client.get(CHECK, query_string=query, headers=headers))["refused_by"] == "role"
    headers = {**bearer(key), "X-Original-Method": "GET"}
    assert client.get(CHECK, query_string=query, headers=headers).status_code == 204


def test_an_export_key_passes_only_get_and_head_behind_check(client, make_key, owner, project):
    _, key = make_key(project, owner, "export")
    for method, status in [("GET", 204), ("HEAD", 204), ("OPTIONS", 403), ("POST", 403)]:
        response = client.get(CHECK, headers={**bearer(key), "X-Forwarded-Method": method})
        assert response.status_code == status, method


def test_a_spoofed_second_method_header_does_not_help(client, make_token, owner, project):
    _, secret = make_token(["dashboard:view"], user=owner)
    headers = {**bearer(secret), "X-Original-Method": "DELETE", "X-Forwarded-Method": "GET"}
    refused(client.get(CHECK, query_string={"project": "acme"}, headers=headers))


# Limits only tighten.


def limited_token(make_token, user, allowlist=("10.0.0.0/8",), rate=60):
    credential, secret = make_token(["dashboard"], user=user)
    lifecycle.update(credential, ip_allowlist=list(allowlist), rate_limit=rate)
    return credential, secret


def from_inside(secret) -> dict:
    return {
        "headers": bearer(secret),
        "base_url": "https://tokenapp.test",
        "environ_base": {"REMOTE_ADDR": "10.1.2.3"},
    }


@pytest.mark.parametrize(
    "limits",
    [
        {"ip_allowlist": None},
        {"ip_allowlist": ["0.0.0.0/0"]},
        {"ip_allowlist": ["10.0.0.0/8", "192.168.0.0/16"]},
        {"rate_limit": None},
        {"rate_limit": 61},
    ],
)
def test_a_limited_token_cannot_make_a_looser_child(client, make_token, owner, limits):
    _, secret = limited_token(make_token, owner)
    response = client.post(TOKENS, json={**CHILD, **limits}, **from_inside(secret))
    assert refused(response)["refused_by"] == "limits"


def test_a_limited_tokens_child_inherits_or_tightens_its_limits(client, make_token, owner):
    _, secret = limited_token(make_token, owner)
    inherited = client.post(TOKENS, json=CHILD, **from_inside(secret))
    assert inherited.status_code == 201, inherited.get_data(as_text=True)
    assert inherited.get_json()["ip_allowlist"] == ["10.0.0.0/8"]
    assert inherited.get_json()["rate_limit"] == 60
    tighter = {**CHILD, "ip_allowlist": ["10.1.0.0/16"], "rate_limit": 10}
    assert client.post(TOKENS, json=tighter, **from_inside(secret)).status_code == 201


@pytest.mark.parametrize(
    "limits",
    [
        {"ip_allowlist": None},
        {"ip_allowlist": ["0.0.0.0/0"]},
        {"rate_limit": None},
        {"rate_limit": 100},
    ],
)
def test_a_token_cannot_loosen_its_own_limits(client, make_token, owner, limits):
    credential, secret = limited_token(make_token, owner)
    response = client.patch(f"{TOKENS}/{credential.id}", json=limits, **from_inside(secret))
    assert refused(response)["refused_by"] == "limits"
    tighten = {"ip_allowlist": ["10.1.0.0/16"], "rate_limit": 30}
    response = client.patch(f"{TOKENS}/{credential.id}", json=tighten, **from_inside(secret))
    assert response.status_code == 200


def test_a_limited_token_cannot_regenerate_an_unlimited_sibling(client, make_token, owner):
    _, secret = limited_token(make_token, owner)
    sibling, _ = make_token(["dashboard:view"], user=owner)
    url = f"{TOKENS}/{sibling.id}/regenerate"
    response = client.post(url, json={"expiration": 7}, **from_inside(secret))
    assert refused(response)["refused_by"] == "limits"


# A PAT sees and manages only tokens its scopes cover.


def test_a_narrow_token_sees_only_the_tokens_it_covers(client, make_token, owner):
    wide, _ = make_token(["dashboard", "embed"], user=owner, note="the wide one")
    narrow, secret = make_token(["embed:view"], user=owner)
    listed = client.get(TOKENS, headers=bearer(secret)).get_json()
    assert [t["id"] for t in listed] == [str(narrow.id)]
    for method, suffix, body in [
        ("GET", "", None),
        ("GET", "/usage", None),
        ("PATCH", "", {"note": "x"}),
        ("POST", "/regenerate", {"expiration": 7}),
        ("DELETE", "", None),
    ]:
        url = f"{TOKENS}/{wide.id}{suffix}"
        response = client.open(url, method=method, json=body, headers=bearer(secret))
        problem = refused(response)
        assert problem["refused_by"] == "scope", (method, suffix)
        assert "the wide one" not in response.get_data(as_text=True)


# Removing a member revokes their keys; re-adding revives nothing.


def test_removal_revokes_keys_and_re_adding_revives_nothing(client, make_user, make_key, project):
    member = make_user("member")
    membership = projects.add_member(project, member, "editor")
    credential, key = make_key(project, member, "full")
    projects.remove_member(membership)
    projects.add_member(project, member, "viewer")
    assert_problem(client.get(VERIFY, headers=bearer(key)), 401)
    events = list(audit.search(action="credential.revoke"))
    assert [e.target for e in events] == [str(credential.id)]
    assert events[0].detail["reason"]


# Every insufficient-scope 403 carries RFC 6750's challenge.


def test_token_management_refusals_carry_the_challenge(
    client, make_token, make_key, owner, project
):
    _, key = make_key(project, owner, "full")
    refused(client.get(TOKENS, headers=bearer(key)))
    _, secret = make_token(["dashboard"], user=owner, days=30)
    refused(client.post(TOKENS, json={**CHILD, "expiration": None}, headers=bearer(secret)))
