"""The project data API: documents, pagination, limits, flow runs, members, no 500s."""

import json

import pytest
from conftest import assert_problem
from conftest import bearer
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tokenapp.models import Document

ALL_SCOPES = ["automation", "company", "connector_auth", "connectors", "dashboard", "embed"]


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def project(make_project, owner):
    return make_project("alpha", owner=owner)


@pytest.fixture
def headers(make_token, owner, project):
    return bearer(make_token(ALL_SCOPES, user=owner)[1])


@pytest.fixture
def url(project):
    return f"/api/v1/projects/{project.slug}"


def seed(project, collection, body, user=None):
    return Document.create(project=project, collection=collection, body=body, created_by=user)


def test_create_then_get_returns_the_document_with_server_fields(client, headers, url):
    response = client.post(f"{url}/dashboards", json={"title": "Sales"}, headers=headers)
    assert response.status_code == 201
    created = response.get_json()
    assert created["title"] == "Sales"
    assert created["created_by"] == "owner"
    assert set(created) == {"title", "id", "created_at", "updated_at", "created_by"}
    assert response.headers["Location"].endswith(f"{url}/dashboards/{created['id']}")
    fetched = client.get(f"{url}/dashboards/{created['id']}", headers=headers)
    assert fetched.get_json() == created


def test_put_replaces_the_whole_document(app, client, clock, headers, url, project):
    app.config["CLOCK"] = clock
    doc = seed(project, "dashboards", {"title": "Old", "keep": "no"})
    clock.advance(minutes=5)
    response = client.put(f"{url}/dashboards/{doc.id}", json={"title": "New"}, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("title", "id")} == {"title": "New", "id": str(doc.id)}
    assert "keep" not in body
    assert body["updated_at"] > body["created_at"]


def test_patch_merges_and_null_removes(client, headers, url, project):
    doc = seed(project, "dashboards", {"title": "T", "gone": 1, "nested": {"a": 1, "b": 2}})
    patch = {"gone": None, "added": [1], "nested": {"b": None, "c": 3}}
    response = client.patch(f"{url}/dashboards/{doc.id}", json=patch, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["title"] == "T" and body["added"] == [1]
    assert "gone" not in body
    assert body["nested"] == {"a": 1, "c": 3}


def test_delete_removes_the_document(client, headers, url, project):
    doc = seed(project, "dashboards", {"title": "T"})
    response = client.delete(f"{url}/dashboards/{doc.id}", headers=headers)
    assert response.status_code == 204
    assert_problem(client.get(f"{url}/dashboards/{doc.id}", headers=headers), 404)
    assert_problem(client.delete(f"{url}/dashboards/{doc.id}", headers=headers), 404)


def test_collections_and_projects_keep_documents_apart(client, headers, url, project, make_project):
    seed(project, "insights", {"n": 1})
    other = seed(make_project("beta"), "dashboards", {"n": 2})
    assert client.get(f"{url}/dashboards", headers=headers).get_json()["items"] == []
    assert_problem(client.get(f"{url}/dashboards/{other.id}", headers=headers), 404)


def test_cursor_pagination_walks_every_document_once(client, headers, url, project):
    for n in range(7):
        seed(project, "forecasts", {"n": n})
    seen, cursor = [], None
    for _ in range(10):
        query = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        page = client.get(f"{url}/forecasts", query_string=query, headers=headers).get_json()
        seen += [item["n"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(7))


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_up_to_100_is_accepted(client, headers, url, limit):
    response = client.get(f"{url}/forecasts", query_string={"limit": limit}, headers=headers)
    assert response.status_code == 200


BAD_PAGING = ["-1", "x", "1.5", "²", "1" * 5000]


@pytest.mark.parametrize(
    ("name", "value"),
    [("limit", v) for v in ["101", "0", *BAD_PAGING]] + [("cursor", v) for v in BAD_PAGING],
)
def test_bad_paging_values_are_422_naming_the_parameter(client, headers, url, name, value):
    response = client.get(f"{url}/forecasts", query_string={name: value}, headers=headers)
    assert_problem(response, 422, field=name)


def test_document_over_64_kib_is_413(client, headers, url):
    response = client.post(f"{url}/dashboards", json={"x": "a" * 65536}, headers=headers)
    assert_problem(response, 413)


def test_document_just_under_64_kib_is_accepted(client, headers, url):
    body = {"x": "a" * (65536 - 10)}
    assert len(json.dumps(body, separators=(",", ":"))) <= 65536
    response = client.post(
        f"{url}/dashboards",
        data=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 201


def test_body_over_the_request_limit_is_413(client, headers, url):
    response = client.post(
        f"{url}/dashboards",
        data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        content_type="application/json",
        headers=headers,
    )
    assert_problem(response, 413)


@pytest.mark.parametrize("field", ["id", "created_at", "updated_at", "created_by"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_server_fields_in_the_body_are_422(client, headers, url, project, field, method):
    doc = seed(project, "dashboards", {"t": 1})
    target = f"{url}/dashboards" if method == "POST" else f"{url}/dashboards/{doc.id}"
    response = client.open(target, method=method, json={field: "x"}, headers=headers)
    assert_problem(response, 422, field=field)


@pytest.mark.parametrize("body", [[], [1], "text", 3, True, None], ids=repr)
def test_body_that_is_not_an_object_is_422(client, headers, url, body):
    data = json.dumps(body)
    response = client.post(
        f"{url}/dashboards", data=data, content_type="application/json", headers=headers
    )
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "data",
    [b"{", b"{'a': 1}", b"\xff\xfe", b"", b"[" * 40000, b"1" * 5000],
    ids=["open-brace", "single-quotes", "not-utf8", "empty", "deep-nesting", "huge-number"],
)
def test_malformed_json_is_400(client, headers, url, data):
    response = client.post(
        f"{url}/dashboards", data=data, content_type="application/json", headers=headers
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(client, headers, url, content_type):
    response = client.post(
        f"{url}/dashboards", data=b'{"a": 1}', content_type=content_type, headers=headers
    )
    assert_problem(response, 415)


@pytest.mark.parametrize("doc_id", ["nope", "123", "00000000-0000-0000-0000-000000000000"])
@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_unknown_or_malformed_document_id_is_404(client, headers, url, doc_id, method):
    response = client.open(f"{url}/dashboards/{doc_id}", method=method, json={}, headers=headers)
    assert_problem(response, 404)


@pytest.mark.parametrize("collection", ["nothing", "tokens", "flow_runs"])
def test_unknown_collection_is_404(client, headers, url, collection):
    assert_problem(client.get(f"{url}/{collection}", headers=headers), 404)


def test_unknown_project_is_404(client, headers):
    assert_problem(client.get("/api/v1/projects/nope/dashboards", headers=headers), 404)


# Flow runs and webhooks.
def test_running_a_flow_records_a_flow_run(client, headers, url, project):
    flow = seed(project, "flows", {"name": "nightly"})
    response = client.post(f"{url}/flows/{flow.id}/runs", json={"since": 1}, headers=headers)
    assert response.status_code == 201
    run = response.get_json()
    assert run["flow_id"] == str(flow.id)
    assert run["trigger"] == "run" and run["input"] == {"since": 1}
    listed = client.get(f"{url}/flow-runs", headers=headers).get_json()["items"]
    assert [item["id"] for item in listed] == [run["id"]]


def test_running_a_flow_needs_no_body(client, headers, url, project):
    flow = seed(project, "flows", {"name": "nightly"})
    response = client.post(f"{url}/flows/{flow.id}/runs", headers=headers)
    assert response.status_code == 201
    assert response.get_json()["input"] is None


@pytest.mark.parametrize(
    ("flow_body", "status"),
    [({"trigger": "webhook"}, 201), ({"trigger": "schedule"}, 409), ({}, 409)],
)
def test_webhook_triggers_only_webhook_flows(client, headers, url, project, flow_body, status):
    flow = seed(project, "flows", flow_body)
    response = client.post(f"{url}/flows/{flow.id}/webhook", json={"event": 1}, headers=headers)
    if status == 201:
        assert response.status_code == 201
        assert response.get_json()["trigger"] == "webhook"
    else:
        assert_problem(response, status)


@pytest.mark.parametrize("action", ["runs", "webhook"])
def test_running_an_unknown_flow_is_404(client, headers, url, project, action):
    not_a_flow = seed(project, "dashboards", {"trigger": "webhook"})
    response = client.post(f"{url}/flows/{not_a_flow.id}/{action}", headers=headers)
    assert_problem(response, 404)


# The users collection is the project's real member list.
@pytest.fixture
def member_headers(make_token, owner):
    return bearer(_company_token(make_token, owner))


def _company_token(make_token, user):
    return make_token(["company"], user=user)[1]


def test_users_collection_lists_the_real_members(client, member_headers, url, project, make_user):
    from tokenapp import projects

    projects.add_member(project, make_user("bob"), "viewer")
    items = client.get(f"{url}/users", headers=member_headers).get_json()["items"]
    assert [(i["username"], i["role"]) for i in items] == [("bob", "viewer"), ("owner", "owner")]


def test_owner_adds_changes_and_removes_a_member(client, member_headers, url, make_user):
    make_user("carol")
    added = client.post(
        f"{url}/users", json={"username": "Carol", "role": "viewer"}, headers=member_headers
    )
    assert added.status_code == 201 and added.get_json()["role"] == "viewer"
    changed = client.patch(f"{url}/users/carol", json={"role": "editor"}, headers=member_headers)
    assert changed.get_json()["role"] == "editor"
    assert client.get(f"{url}/users/carol", headers=member_headers).get_json()["role"] == "editor"
    assert client.delete(f"{url}/users/carol", headers=member_headers).status_code == 204
    assert_problem(client.get(f"{url}/users/carol", headers=member_headers), 404)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"username": "nobody", "role": "viewer"}, 404, None),
        ({"username": "carol", "role": "boss"}, 422, "role"),
        ({"username": "carol"}, 422, "role"),
        ({"username": "carol", "role": "viewer", "admin": True}, 422, "admin"),
        ({"username": "owner", "role": "viewer"}, 409, None),
    ],
)
def test_adding_a_member_validates_the_body(
    client, member_headers, url, make_user, body, status, field
):
    make_user("carol")
    response = client.post(f"{url}/users", json=body, headers=member_headers)
    assert_problem(response, status, field=field)


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_the_last_owner_stays(client, member_headers, url, method):
    body = {"role": "editor"} if method == "PATCH" else None
    response = client.open(f"{url}/users/owner", method=method, json=body, headers=member_headers)
    assert_problem(response, 409)
    items = client.get(f"{url}/users", headers=member_headers).get_json()["items"]
    assert [(i["username"], i["role"]) for i in items] == [("owner", "owner")]


def test_a_second_owner_lets_the_first_step_down(client, member_headers, url, project, make_user):
    from tokenapp import projects

    projects.add_member(project, make_user("dana"), "owner")
    response = client.patch(f"{url}/users/owner", json={"role": "viewer"}, headers=member_headers)
    assert response.status_code == 200


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_only_owners_change_members(client, make_token, make_user, project, url, role):
    from tokenapp import projects

    user = make_user("erin")
    projects.add_member(project, user, role)
    make_user("frank")
    response = client.post(
        f"{url}/users",
        json={"username": "frank", "role": "viewer"},
        headers=bearer(_company_token(make_token, user)),
    )
    assert assert_problem(response, 403)["refused_by"] == "role"


# Nothing a client sends gives a 500.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FUZZ_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def targets(project, url, ctx):
    doc = seed(project, "dashboards", {"t": 1})
    flow = seed(project, "flows", {"trigger": "webhook"})
    return [
        ("POST", f"{url}/dashboards"),
        ("PUT", f"{url}/dashboards/{doc.id}"),
        ("PATCH", f"{url}/dashboards/{doc.id}"),
        ("POST", f"{url}/flows/{flow.id}/webhook"),
        ("POST", f"{url}/users"),
        ("PATCH", f"{url}/users/owner"),
        ("POST", "/api/v1/personal-access-tokens"),
    ]


@FUZZ_SETTINGS
@given(value=JSON, which=st.integers(min_value=0, max_value=6))
def test_any_json_value_never_gives_a_500(client, headers, targets, value, which):
    method, target = targets[which]
    response = client.open(target, method=method, json=value, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)


@FUZZ_SETTINGS
@given(data=st.binary(max_size=300), which=st.integers(min_value=0, max_value=6))
def test_any_bytes_never_give_a_500(client, headers, targets, data, which):
    method, target = targets[which]
    response = client.open(
        target, method=method, data=data, content_type="application/json", headers=headers
    )
    assert response.status_code < 500, response.get_data(as_text=True)


@FUZZ_SETTINGS
@given(
    query=st.dictionaries(
        st.sampled_from(["limit", "cursor", "explain", "scope", "project", "x"]),
        st.text(max_size=12),
        max_size=3,
    ),
    path=st.sampled_from(["dashboards", "users", "flow-runs"]),
)
def test_any_query_string_never_gives_a_500(client, headers, url, query, path):
    response = client.get(f"{url}/{path}", query_string=query, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    response = client.get("/api/v1/auth/check", query_string=query, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)
