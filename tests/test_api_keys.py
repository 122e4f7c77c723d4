"""Project keys over the API (issue 15): role x credential-kind tables.

Run on PostgreSQL too: TOKENAPP_TEST_BACKEND=postgresql (conftest's database_url).
"""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp.models import AuditEvent
from tokenapp.models import Credential

EVERY = ["automation", "company", "connector_auth", "connectors", "dashboard", "embed"]
ROLES = {"alice": "owner", "bob": "editor", "carol": "viewer"}
READS = [f"{scope}:view" for scope in EVERY]


@pytest.fixture
def acme(make_user, make_project, make_token, make_key):
    people = {name: make_user(name) for name in ("alice", "bob", "carol", "dave")}
    project = make_project(
        "acme",
        owner=people["alice"],
        members=[(people["bob"], "editor"), (people["carol"], "viewer")],
    )
    pats = {name: make_token(EVERY, user=user)[1] for name, user in people.items()}
    keys = {name: make_key(project, people[name])[0] for name in ("alice", "bob", "carol")}
    return {"people": people, "project": project, "pats": pats, "keys": keys}


def url(key=None, action=""):
    base = "/api/v1/projects/acme/keys"
    return f"{base}/{key.id}{action}" if key is not None else base


@pytest.mark.parametrize(
    ("caller", "listed"),
    [("alice", {"alice", "bob", "carol"}), ("bob", {"bob"}), ("carol", {"carol"}), ("dave", None)],
)
def test_list_by_role(client, acme, caller, listed):
    response = client.get(url(), headers=bearer(acme["pats"][caller]))
    if listed is None:
        assert_problem(response, 404)
        return
    assert response.status_code == 200
    assert {row["user"] for row in response.json} == listed
    assert all("key" not in row for row in response.json)


# On bob's key (bob: editor): (caller, GET, PATCH, regenerate, DELETE)
ROLE_TABLE = [
    ("alice", 200, 403, 403, 204),  # an owner sees and revokes every key; a key acts as its member
    ("bob", 200, 200, 200, 204),
    ("carol", 404, 404, 404, 404),  # another member: not even that it exists
    ("dave", 404, 404, 404, 404),  # not a member
]


@pytest.mark.parametrize(("caller", "get", "patch", "regenerate", "delete"), ROLE_TABLE)
def test_one_key_by_role(client, acme, caller, get, patch, regenerate, delete):
    key, auth = acme["keys"]["bob"], bearer(acme["pats"][caller])
    assert client.get(url(key), headers=auth).status_code == get
    assert client.patch(url(key), json={"label": "x"}, headers=auth).status_code == patch
    assert client.post(url(key, "/regenerate"), json={}, headers=auth).status_code == regenerate
    assert client.delete(url(key), headers=auth).status_code == delete


@pytest.mark.parametrize("kind", ["export", "full"])
def test_a_project_key_never_manages_keys(client, acme, make_key, kind):
    alice = acme["people"]["alice"]
    _, secret = make_key(acme["project"], alice, kind=kind)  # even the owner's own key
    key, auth = acme["keys"]["alice"], bearer(secret)
    for response in (
        client.get(url(), headers=auth),
        client.post(url(), json={"kind": "export", "label": "x"}, headers=auth),
        client.get(url(key), headers=auth),
        client.patch(url(key), json={"label": "x"}, headers=auth),
        client.post(url(key, "/regenerate"), json={}, headers=auth),
        client.delete(url(key), headers=auth),
    ):
        assert assert_problem(response, 403)["refused_by"] == "credential"
    assert Credential.get_by_id(key.id).revoked_at is None


@pytest.mark.parametrize("caller", ["alice", "bob", "carol"])
def test_every_member_creates_their_own_key_and_sees_the_secret_once(client, acme, caller):
    auth = bearer(acme["pats"][caller])
    response = client.post(url(), json={"kind": "full", "label": "deploy"}, headers=auth)
    assert response.status_code == 201
    body = response.json
    assert body["key"].startswith("tkf_") and body["user"] == caller and body["kind"] == "full"
    verified = client.get("/api/v1/auth/verify", headers=bearer(body["key"])).json
    assert verified["project"] == {"slug": "acme", "role": ROLES[caller]}
    again = client.get(f"{url()}/{body['id']}", headers=auth).json
    assert "key" not in again and again["label"] == "deploy"
    event = AuditEvent.get(
        (AuditEvent.action == "credential.create") & (AuditEvent.target == body["id"])
    )
    assert (event.actor_name, event.project_slug) == (caller, "acme")


@pytest.mark.parametrize(
    ("scopes", "export", "full"),
    [
        (EVERY, 201, 201),
        (READS, 201, 403),
        (["dashboard"], 403, 403),
        (["dashboard:view"], 403, 403),
    ],
)
def test_a_narrow_token_cannot_mint_a_wider_key(client, acme, make_token, scopes, export, full):
    _, secret = make_token(scopes, user=acme["people"]["bob"])
    auth = bearer(secret)
    assert (
        client.post(url(), json={"kind": "export", "label": "e"}, headers=auth).status_code
        == export
    )
    assert client.post(url(), json={"kind": "full", "label": "f"}, headers=auth).status_code == full
    response = client.post(url(acme["keys"]["bob"], "/regenerate"), json={}, headers=auth)
    assert response.status_code == (200 if full == 201 else 403)
    assert client.get(url(), headers=auth).status_code == 200  # reading needs no more


def test_regenerate_with_grace_and_revoke(client, acme, make_key, clock):
    bob = acme["people"]["bob"]
    key, old = make_key(acme["project"], bob)
    auth = bearer(acme["pats"]["bob"])
    fresh = client.post(url(key, "/regenerate"), json={"grace": 1}, headers=auth).json
    assert fresh["previous_secret_expires_at"] is not None
    assert client.get("/api/v1/auth/verify", headers=bearer(old)).status_code == 200
    assert client.get("/api/v1/auth/verify", headers=bearer(fresh["key"])).status_code == 200
    new = client.post(url(key, "/regenerate"), json={}, headers=auth).json["key"]  # grace 0
    assert client.get("/api/v1/auth/verify", headers=bearer(fresh["key"])).status_code == 401
    assert client.get("/api/v1/auth/verify", headers=bearer(new)).status_code == 200
    assert client.delete(url(key), headers=bearer(acme["pats"]["alice"])).status_code == 204
    assert client.get("/api/v1/auth/verify", headers=bearer(new)).status_code == 401
    assert client.get(url(key), headers=auth).status_code == 404  # revoked: gone from the API
    event = AuditEvent.get(
        (AuditEvent.action == "credential.revoke") & (AuditEvent.target == str(key.id))
    )
    assert event.actor_name == "alice"


def test_limits_and_label(client, acme):
    key, auth = acme["keys"]["bob"], bearer(acme["pats"]["bob"])
    body = {"label": "ci", "ip_allowlist": ["10.0.0.0/8"], "rate_limit": 60}
    response = client.patch(url(key), json=body, headers=auth)
    assert response.status_code == 200
    assert {k: response.json[k] for k in body} == body
    assert assert_problem(
        client.patch(url(key), json={"note": "x"}, headers=auth), 422, field="note"
    )
    assert assert_problem(client.patch(url(key), json={"rate_limit": 0}, headers=auth), 422)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"kind": "pat", "label": "x"},
        {"kind": "full"},
        {"kind": "full", "label": ""},
        {"kind": "full", "label": "x", "scopes": []},
    ],
)
def test_create_refuses_bad_bodies(client, acme, body):
    assert_problem(client.post(url(), json=body, headers=bearer(acme["pats"]["bob"])), 422)


@pytest.mark.parametrize("key_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_ids_are_404(client, acme, key_id):
    response = client.get(f"{url()}/{key_id}", headers=bearer(acme["pats"]["alice"]))
    assert_problem(response, 404)
