"""A replaced catalogue without a scope a token holds (issue 11, finding 9).

The token keeps the string; it grants nothing, every route still answers
(never a 500), and the pages say "unknown scope (grants nothing)".
"""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import scopes

# The shipped catalogue without [scopes.embed].
SHIPPED = scopes.DEFAULT_FILE.read_text()
WITHOUT_EMBED = SHIPPED[: SHIPPED.index("[scopes.embed]")]


@pytest.fixture
def app_overrides(tmp_path):
    path = tmp_path / "scopes.toml"
    path.write_text(WITHOUT_EMBED)
    return {"SCOPES_FILE": str(path)}


@pytest.fixture
def held(make_user, make_project, make_token):
    """A user in a project, and a token holding dashboard:view and the vanished embed."""
    user = make_user("olive")
    project = make_project("billing", owner=user)
    credential, secret = make_token(["dashboard:view", "embed"], user=user)
    return user, project, credential, secret


def test_the_token_still_works_within_its_known_scopes(client, held):
    _, project, _, secret = held
    response = client.get(f"/api/v1/projects/{project.slug}/dashboards", headers=bearer(secret))
    assert response.status_code == 200
    # The vanished scope grants nothing: embeds are not even a collection now.
    response = client.post(
        f"/api/v1/projects/{project.slug}/dashboards", json={}, headers=bearer(secret)
    )
    assert_problem(response, 403)


def test_verify_returns_the_scopes_as_held_and_explain_grants_nothing_for_them(client, held):
    _, project, _, secret = held
    response = client.get("/api/v1/auth/verify?explain=1", headers=bearer(secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert sorted(body["credential"]["scopes"]) == ["dashboard:view", "embed"]
    access = body["access"][project.slug]
    assert access["allowed"] == {
        e: ["read"] for e in ("dashboards", "data-sources", "forecasts", "insights", "transforms")
    }


def test_check_answers_for_known_and_vanished_scopes(client, held):
    _, project, _, secret = held
    check = "/api/v1/auth/check?project={}&scope={}"
    response = client.get(check.format(project.slug, "dashboard:view"), headers=bearer(secret))
    assert response.status_code == 204
    response = client.get("/api/v1/auth/check?scope=dashboard:view", headers=bearer(secret))
    assert response.status_code == 204
    response = client.get(check.format(project.slug, "company:view"), headers=bearer(secret))
    assert_problem(response, 403)
    # Asking for a scope that is not in the catalogue is still the client's mistake.
    response = client.get(check.format(project.slug, "embed"), headers=bearer(secret))
    assert_problem(response, 422, field="scope")


def test_a_child_token_within_the_known_scopes_is_created(client, held):
    _, _, _, secret = held
    body = {"expiration": 7, "scopes": ["dashboard:view"], "note": "child"}
    response = client.post("/api/v1/personal-access-tokens", json=body, headers=bearer(secret))
    assert response.status_code == 201, response.get_data(as_text=True)
    # A requested scope the catalogue does not know is refused, naming it.
    body["scopes"] = ["embed"]
    response = client.post("/api/v1/personal-access-tokens", json=body, headers=bearer(secret))
    problem = assert_problem(response, 422, field="scopes")
    assert "'embed'" in problem["errors"][0]["message"]


def test_the_tokens_own_api_views_answer(client, held):
    _, _, credential, secret = held
    response = client.get("/api/v1/personal-access-tokens", headers=bearer(secret))
    assert response.status_code == 200
    response = client.get(f"/api/v1/personal-access-tokens/{credential.id}", headers=bearer(secret))
    assert response.status_code == 200
    assert sorted(response.get_json()["scopes"]) == ["dashboard:view", "embed"]
    # Narrowing to what the catalogue knows is allowed, and drops the vanished scope.
    response = client.patch(
        f"/api/v1/personal-access-tokens/{credential.id}",
        json={"scopes": ["dashboard:view"]},
        headers=bearer(secret),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["scopes"] == ["dashboard:view"]


@pytest.mark.parametrize("page", ["/tokens", "/tokens/{id}", "/tokens/{id}/edit"])
def test_pages_show_the_vanished_scope_as_granting_nothing(client, auth, held, page):
    user, _, credential, _ = held
    auth.login(user.username)
    response = client.get(page.format(id=credential.id))
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    html = response.get_data(as_text=True)
    if page != "/tokens/{id}/edit":
        assert "unknown scope (grants nothing)" in html
    else:
        assert "embed" in html  # the edit page says what will be dropped
