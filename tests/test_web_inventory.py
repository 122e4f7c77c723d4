"""Admin pages: every project (appoint an owner) and the credentials inventory."""

import csv
import datetime
import io
import json

import pytest
from conftest import bearer

from tokenapp.models import AuditEvent
from tokenapp.models import Credential
from tokenapp.models import Membership

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def root(auth, make_user):
    user = make_user("root", admin=True)
    auth.login("root")
    return user


@pytest.fixture
def estate(app, ctx, make_user, make_project, make_token, make_key, clock):
    """alice owns acme (bob is an editor); tokens and keys in several states."""
    app.config["CLOCK"] = clock
    alice, bob = make_user("alice"), make_user("bob")
    acme = make_project("acme", owner=alice, members=[(bob, "editor")])
    stale, stale_secret = make_token(("dashboard",), user=bob, note="stale laptop")
    fresh, _ = make_token(("embed",), user=alice, note="fresh", days=3)
    key, key_secret = make_key(acme, bob, "full", "bob laptop")
    clock.advance(days=40)
    fresh.last_used = clock.now  # used today; the others never since creation
    fresh.expires_at = clock.now + datetime.timedelta(days=3)
    fresh.save()
    return {
        "stale": (stale, stale_secret),
        "fresh": fresh,
        "key": (key, key_secret),
        "acme": acme,
        "alice": alice,
        "bob": bob,
    }


def test_admins_only(client, auth, make_user):
    make_user("alice")
    auth.login("alice")
    for path in ("/admin/credentials", "/admin/projects", "/admin/credentials/export.csv"):
        assert client.get(path).status_code == 403


def test_inventory_lists_every_credential_and_filters(client, root, estate):
    page = client.get("/admin/credentials").get_data(as_text=True)
    for name in ("stale laptop", "fresh", "bob laptop"):
        assert name in page
    assert estate["stale"][1] not in page and estate["key"][1] not in page

    by_kind = client.get("/admin/credentials?kind=full").get_data(as_text=True)
    assert "bob laptop" in by_kind and "stale laptop" not in by_kind
    unused = client.get("/admin/credentials?unused_for=30").get_data(as_text=True)
    assert "stale laptop" in unused and "bob laptop" in unused and ">fresh<" not in unused
    expiring = client.get("/admin/credentials?expiring_within=7").get_data(as_text=True)
    assert ">fresh<" in expiring and "stale laptop" not in expiring
    by_user = client.get("/admin/credentials?user=alice&project=").get_data(as_text=True)
    assert ">fresh<" in by_user and "stale laptop" not in by_user
    by_project = client.get("/admin/credentials?project=acme").get_data(as_text=True)
    assert "bob laptop" in by_project and ">fresh<" not in by_project


@pytest.mark.parametrize(
    "query",
    [
        "kind=bogus",
        "state=alive",
        "unused_for=-1",
        "unused_for=99999999999999999999",
        "expiring_within=²",
        "sort=password",
    ],
)
def test_bad_filters_are_explained_not_500(client, root, estate, query):
    response = client.get(f"/admin/credentials?{query}")
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)


def test_paging_clamps_and_sorts(client, root, estate):
    for page in ("0", "-3", "99999999999999999999", "x"):
        assert client.get(f"/admin/credentials?page={page}").status_code == 200
    page = client.get("/admin/credentials?sort=user").get_data(as_text=True)
    assert page.index(">alice<") < page.index(">bob<")


def test_admin_finds_a_stale_token_and_bulk_revokes_it(client, auth, root, estate):
    stale, secret = estate["stale"]
    key, key_secret = estate["key"]
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    response = auth.post(
        "/admin/credentials/revoke",
        {"id": [str(stale.id), str(key.id)], "f_unused_for": "30"},
        form_page="/admin/credentials?unused_for=30",
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/credentials?unused_for=30")
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 401
    assert client.get(VERIFY, headers=bearer(key_secret)).status_code == 401
    revokes = AuditEvent.select().where(AuditEvent.action == "credential.revoke")
    assert sorted(e.target for e in revokes) == sorted([str(stale.id), str(key.id)])
    assert {e.actor_name for e in revokes} == {"root"}
    assert Credential.get_by_id(estate["fresh"].id).revoked_at is None


def test_bulk_revoke_needs_the_csrf_token_and_ids(client, root, estate, auth):
    stale, _ = estate["stale"]
    assert client.post("/admin/credentials/revoke", data={"id": str(stale.id)}).status_code == 400
    bad = auth.post("/admin/credentials/revoke", {"id": "nope"}, form_page="/admin/credentials")
    assert bad.status_code == 400
    assert Credential.get_by_id(stale.id).revoked_at is None


def test_exports_csv_and_jsonl_never_a_secret(client, root, estate):
    jsonl = client.get("/admin/credentials/export.jsonl?kind=pat")
    assert jsonl.status_code == 200
    assert "attachment" in jsonl.headers["Content-Disposition"]
    rows = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert sorted(row["note"] for row in rows) == ["fresh", "stale laptop"]
    assert {row["kind"] for row in rows} == {"pat"}
    text = client.get("/admin/credentials/export.csv").get_data(as_text=True)
    table = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["note"] for row in table) == ["bob laptop", "fresh", "stale laptop"]
    for secret in (estate["stale"][1], estate["key"][1]):
        assert secret not in text and secret not in jsonl.get_data(as_text=True)
    assert client.get("/admin/credentials/export.xml").status_code == 404


def test_csv_export_defuses_spreadsheet_formulas(client, root, make_token, make_user):
    make_token(user=make_user("eve"), note='=HYPERLINK("http://x")')
    text = client.get("/admin/credentials/export.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in text


def test_admin_opens_any_project_and_appoints_an_owner(client, auth, root, estate):
    acme, bob = estate["acme"], estate["bob"]
    overview = client.get("/projects/acme")
    assert overview.status_code == 200
    assert "not a member" in overview.get_data(as_text=True)
    listing = client.get("/admin/projects").get_data(as_text=True)
    assert "acme" in listing and "alice" in listing

    response = auth.post(
        "/admin/projects/acme/owner", {"username": "bob"}, form_page="/admin/projects"
    )
    assert response.status_code == 303
    assert Membership.get(Membership.project == acme, Membership.user == bob).role == "owner"
    missing = auth.post(
        "/admin/projects/acme/owner", {"username": "nobody"}, form_page="/admin/projects"
    )
    assert missing.status_code == 422
    assert "No user" in missing.get_data(as_text=True)
    assert (
        auth.post(
            "/admin/projects/nope/owner", {"username": "bob"}, form_page="/admin/projects"
        ).status_code
        == 404
    )
    # An admin who is not a member can become the owner too.
    auth.post("/admin/projects/acme/owner", {"username": "root"}, form_page="/admin/projects")
    assert client.get("/projects/acme/keys").status_code == 200


def test_admin_sets_a_password_and_the_user_must_change_it(app, root, make_user, auth):
    from conftest import AuthActions

    make_user("carol")
    carol_id = __import__("tokenapp.models", fromlist=["User"]).User.get(username="carol").id
    page = auth.client.get(f"/admin/users/{carol_id}/password").get_data(as_text=True)
    assert "Set a password for carol" in page
    mismatch = auth.post(
        f"/admin/users/{carol_id}/password", {"password": "temporary pass 1", "confirm": "nope"}
    )
    assert mismatch.status_code == 422
    done = auth.post(
        f"/admin/users/{carol_id}/password",
        {"password": "temporary pass 1", "confirm": "temporary pass 1"},
    )
    assert done.status_code == 303
    event = AuditEvent.get(AuditEvent.action == "user.password")
    assert (event.actor_name, event.target, event.detail) == (
        "root",
        "carol",
        {"must_change": True},
    )

    carol = AuthActions(app.test_client())
    assert carol.login("carol").status_code == 200  # the old password is gone
    assert carol.login("carol", "temporary pass 1").status_code == 302
    for path in ("/", "/tokens", "/projects/acme"):
        response = carol.client.get(path)
        assert response.status_code == 302 and "/account" in response.location
    assert carol.client.get("/account").status_code == 200
    changed = carol.post(
        "/account/password",
        {
            "current": "temporary pass 1",
            "password": "carols own choice",
            "confirm": "carols own choice",
        },
        form_page="/account",
    )
    assert changed.status_code == 302
    assert carol.client.get("/tokens").status_code == 200  # free again
