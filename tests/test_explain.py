"""Effective access: verify?explain=1 and the refused_by member of a 403."""

import pytest
from conftest import assert_problem
from conftest import bearer

EXPLAIN = "/api/v1/auth/verify?explain=1"


@pytest.fixture
def team(make_user, make_project):
    owner, editor, viewer = make_user("olive"), make_user("eddie"), make_user("vera")
    project = make_project("billing", owner=owner, members=[(editor, "editor"), (viewer, "viewer")])
    make_project("other")  # none of them belongs to it
    return project, owner, editor, viewer


def test_without_explain_verify_has_no_access_map(client, team, make_token):
    _, owner, _, _ = team
    _, secret = make_token(["dashboard"], user=owner)
    assert "access" not in client.get("/api/v1/auth/verify", headers=bearer(secret)).get_json()


def test_explain_lists_only_the_users_projects_with_role(client, team, make_token):
    _, _, editor, _ = team
    _, secret = make_token(["dashboard:view"], user=editor)
    access = client.get(EXPLAIN, headers=bearer(secret)).get_json()["access"]
    assert list(access) == ["billing"]
    billing = access["billing"]
    assert billing["role"] == "editor"
    assert billing["allowed"]["dashboards"] == ["read"]
    assert billing["refused"]["dashboards"] == {
        "create": "scope",
        "update": "scope",
        "delete": "scope",
    }
    assert "flows" not in billing["allowed"]
    assert billing["refused"]["flows"]["read"] == "scope"


def test_explain_names_the_role_when_scopes_would_allow(client, team, make_token):
    _, _, _, viewer = team
    _, secret = make_token(["dashboard"], user=viewer)
    billing = client.get(EXPLAIN, headers=bearer(secret)).get_json()["access"]["billing"]
    assert billing["allowed"]["dashboards"] == ["read"]
    assert billing["refused"]["dashboards"]["create"] == "role"


def test_explain_names_read_only_for_an_export_key(client, team, make_key):
    project, owner, _, _ = team
    _, secret = make_key(project, owner, "export")
    body = client.get(EXPLAIN, headers=bearer(secret)).get_json()
    assert list(body["access"]) == ["billing"]
    billing = body["access"]["billing"]
    assert billing["role"] == "owner"
    assert billing["refused"]["dashboards"] == {
        "create": "read_only",
        "update": "read_only",
        "delete": "read_only",
    }
    assert "read" in billing["allowed"]["flows"]


def test_explain_for_a_full_key_allows_what_the_role_allows(client, team, make_key):
    project, _, editor, _ = team
    _, secret = make_key(project, editor, "full")
    billing = client.get(EXPLAIN, headers=bearer(secret)).get_json()["access"]["billing"]
    assert set(billing["allowed"]["dashboards"]) == {"create", "read", "update", "delete"}
    assert billing["refused"]["users"] == {"create": "role", "update": "role", "delete": "role"}


@pytest.mark.parametrize(
    ("who", "scopes", "kind", "method", "layer"),
    [
        ("editor", ["dashboard:view"], "pat", "post", "scope"),
        ("editor", ["connectors"], "pat", "get", "scope"),
        ("viewer", ["dashboard"], "pat", "post", "role"),
        ("viewer", None, "full", "post", "role"),
        ("owner", None, "export", "post", "read_only"),
    ],
)
def test_a_refused_request_names_the_layer_that_refused_it(
    client, team, make_token, make_key, who, scopes, kind, method, layer
):
    project, owner, editor, viewer = team
    user = {"owner": owner, "editor": editor, "viewer": viewer}[who]
    if kind == "pat":
        _, secret = make_token(scopes, user=user)
    else:
        _, secret = make_key(project, user, kind)
    path = "/api/v1/projects/billing/dashboards"
    if method == "post":
        response = client.post(path, json={"name": "q1"}, headers=bearer(secret))
    else:
        response = client.get(path, headers=bearer(secret))
    body = assert_problem(response, 403)
    assert body["refused_by"] == layer
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    if layer == "scope":
        assert body["scope"].startswith("dashboard")


def test_explain_matches_what_requests_get(client, team, make_token):
    _, _, _, viewer = team
    _, secret = make_token(["dashboard"], user=viewer)
    billing = client.get(EXPLAIN, headers=bearer(secret)).get_json()["access"]["billing"]
    path = "/api/v1/projects/billing/dashboards"
    assert "read" in billing["allowed"]["dashboards"]
    assert client.get(path, headers=bearer(secret)).status_code == 200
    assert billing["refused"]["dashboards"]["create"] == "role"
    refused = client.post(path, json={"name": "x"}, headers=bearer(secret))
    assert assert_problem(refused, 403)["refused_by"] == "role"
