"""What a client may send in a JSON body (issue 11, findings 11 and 12).

Depth is bounded below anything that recurses, numbers are finite, and every
collection a client sends has a declared bound: at the bound it is accepted,
one over it is 422 naming the field.
"""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import fields
from tokenapp import validation

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def owner(make_user, make_project, make_token):
    user = make_user("olive")
    project = make_project("billing", owner=user)
    _, secret = make_token(["dashboard", "automation"], user=user)
    return project, secret


@pytest.fixture
def doc_id(client, owner):
    project, secret = owner
    response = client.post(
        f"/api/v1/projects/{project.slug}/dashboards", json={"a": 1}, headers=bearer(secret)
    )
    return response.get_json()["id"]


def _nested(depth: int) -> str:
    """A JSON object `depth` levels deep: {"a":[[...[1]...]]}."""
    return '{"a":' + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "}"


def _send(client, owner, doc_id, target: str, raw: str):
    project, secret = owner
    base = f"/api/v1/projects/{project.slug}/dashboards"
    method, path = {
        "create": ("POST", base),
        "replace": ("PUT", f"{base}/{doc_id}"),
        "patch": ("PATCH", f"{base}/{doc_id}"),
        "token": ("POST", "/api/v1/personal-access-tokens"),
        "run": ("POST", f"/api/v1/projects/{project.slug}/flows/{{flow}}/runs"),
    }[target]
    if target == "run":
        flow = client.post(
            f"/api/v1/projects/{project.slug}/flows", json={"n": 1}, headers=bearer(secret)
        ).get_json()["id"]
        path = path.format(flow=flow)
    if target == "token":
        raw = '{"note":"n","scopes":["dashboard"],"expiration":1,"x":' + raw + "}"
    return client.open(path, method=method, data=raw.encode(), headers={**JSON, **bearer(secret)})


TARGETS = ["create", "replace", "patch", "token", "run"]


@pytest.mark.parametrize("target", TARGETS)
def test_the_deepest_allowed_body_is_stored_and_served_back(client, owner, doc_id, target):
    if target == "token":
        pytest.skip("a token body has no free-form field to nest in")
    response = _send(client, owner, doc_id, target, _nested(validation.MAX_JSON_DEPTH))
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    assert response.get_json() is not None


@pytest.mark.parametrize("depth", [validation.MAX_JSON_DEPTH + 1, 949, 990, 1000, 100_000])
@pytest.mark.parametrize("target", TARGETS)
def test_deeper_bodies_are_422_not_500(client, app, owner, doc_id, target, depth):
    raw = _nested(depth)
    response = _send(client, owner, doc_id, target, raw)
    if target != "token" and len(raw) > app.config["DOCUMENT_MAX_BYTES"]:
        assert_problem(response, 413)  # too large, before it is even parsed
        return
    problem = assert_problem(response, 422)
    assert "deep" in problem["detail"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
@pytest.mark.parametrize("target", TARGETS)
def test_non_finite_numbers_are_422(client, owner, doc_id, target, constant):
    response = _send(client, owner, doc_id, target, '{"a":' + constant + "}")
    problem = assert_problem(response, 422)
    assert "finite" in problem["detail"]


# Finding 12: one declared bound per collection, for the API and the pages alike.


def _token_body(**fields):
    return {"note": "n", "scopes": ["dashboard"], "expiration": 1, **fields}


def _networks(count: int) -> list[str]:
    return [f"10.{i // 256}.{i % 256}.0/24" for i in range(count)]


def test_ip_allowlist_at_the_bound_is_accepted_one_over_is_422(client, owner):
    _, secret = owner
    limit = fields.IP_ALLOWLIST.high
    body = _token_body(ip_allowlist=_networks(limit))
    response = client.post("/api/v1/personal-access-tokens", json=body, headers=bearer(secret))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = _token_body(ip_allowlist=_networks(limit + 1))
    response = client.post("/api/v1/personal-access-tokens", json=body, headers=bearer(secret))
    problem = assert_problem(response, 422, field="ip_allowlist")
    assert str(limit) in problem["errors"][0]["message"]


def test_ip_allowlist_bound_holds_on_the_limits_form(client, auth, owner, make_token, ctx):
    from tokenapp.models import User

    user = User.get(User.username == "olive")
    credential, _ = make_token(["dashboard"], user=user)
    auth.login("olive")
    limit = fields.IP_ALLOWLIST.high
    page = f"/tokens/{credential.id}"
    ok = auth.post(
        f"{page}/limits",
        {"ip_allowlist": "\n".join(_networks(limit)), "rate_limit": ""},
        form_page=page,
    )
    assert ok.status_code == 303, ok.get_data(as_text=True)[:500]
    over = auth.post(
        f"{page}/limits",
        {"ip_allowlist": "\n".join(_networks(limit + 1)), "rate_limit": ""},
        form_page=page,
    )
    assert over.status_code == 422
    assert f"at most {limit}" in over.get_data(as_text=True)


def test_scopes_beyond_the_catalogue_size_are_422(client, owner, app):
    _, secret = owner
    known = app.extensions["tokenapp.scopes"].scope_strings
    body = _token_body(scopes=["dashboard"] * len(known))
    response = client.post("/api/v1/personal-access-tokens", json=body, headers=bearer(secret))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = _token_body(scopes=["dashboard"] * (len(known) + 1))
    response = client.post("/api/v1/personal-access-tokens", json=body, headers=bearer(secret))
    assert_problem(response, 422, field="scopes")


def test_note_bound(client, owner):
    _, secret = owner
    limit = fields.NOTE.high
    response = client.post(
        "/api/v1/personal-access-tokens", json=_token_body(note="n" * limit), headers=bearer(secret)
    )
    assert response.status_code == 201
    response = client.post(
        "/api/v1/personal-access-tokens",
        json=_token_body(note="n" * (limit + 1)),
        headers=bearer(secret),
    )
    assert_problem(response, 422, field="note")


def _padded(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    raw = b'{"a":""}'
    return b'{"a":"' + b"x" * (size - len(raw)) + b'"}'


@pytest.mark.parametrize("route", ["runs", "webhook"])
def test_flow_run_input_is_bounded_like_a_document(client, owner, app, route):
    project, secret = owner
    limit = app.config["DOCUMENT_MAX_BYTES"]
    base = f"/api/v1/projects/{project.slug}/flows"
    flow = client.post(base, json={"trigger": "webhook"}, headers=bearer(secret)).get_json()["id"]
    headers = {**JSON, **bearer(secret)}
    ok = client.post(f"{base}/{flow}/{route}", data=_padded(limit), headers=headers)
    assert ok.status_code == 201, ok.get_data(as_text=True)[:300]
    assert len(ok.get_json()["input"]["a"]) == limit - 8
    over = client.post(f"{base}/{flow}/{route}", data=_padded(limit + 1), headers=headers)
    assert_problem(over, 413)
