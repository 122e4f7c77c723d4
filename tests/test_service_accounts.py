"""Service accounts (issue 15): a project's machine member, managed by its owners.

Through the public surface: the API and pages with the test client, the CLI with
click's runner. Run on PostgreSQL too: TOKENAPP_TEST_BACKEND=postgresql.
"""

import json
import re

import pytest
from conftest import PASSWORD
from conftest import assert_problem
from conftest import bearer

from tokenapp import accounts
from tokenapp import lifecycle
from tokenapp import projects
from tokenapp import service_accounts
from tokenapp.fields import USERNAME
from tokenapp.models import AuditEvent
from tokenapp.models import Credential
from tokenapp.models import User

EVERY = ["automation", "company", "connector_auth", "connectors", "dashboard", "embed"]
VERIFY = "/api/v1/auth/verify"
MEMBERS = "/api/v1/projects/acme/users"
KEYS = "/api/v1/projects/acme/keys"
SECRET = re.compile(r"tk[ef]_[0-9A-Za-z]{20,}")


@pytest.fixture
def acme(make_user, make_project, make_token):
    people = {name: make_user(name) for name in ("alice", "bob", "carol", "dave", "erin")}
    project = make_project(
        "acme",
        owner=people["alice"],
        members=[(people["bob"], "editor"), (people["carol"], "viewer"), (people["erin"], "owner")],
    )
    pats = {name: make_token(EVERY, user=user)[1] for name, user in people.items()}
    return {"people": people, "project": project, "pats": pats}


@pytest.fixture
def deploy(acme):
    """A service account of acme, added by alice (an owner)."""
    return service_accounts.add(acme["project"], "deploy", "editor", actor=acme["people"]["alice"])


@pytest.fixture
def cli(runner):
    def run(*args, input=None):
        return runner.invoke(args=list(args), input=input)

    return run


def add_over_api(client, pat, name="deploy", role="editor"):
    body = {"username": name, "role": role, "service_account": True}
    return client.post(MEMBERS, json=body, headers=bearer(pat))


def key_for(client, pat, user="deploy@acme", kind="full"):
    return client.post(KEYS, json={"kind": kind, "label": "ci", "user": user}, headers=bearer(pat))


# --- what the issue must show -------------------------------------------------------------


def test_its_key_outlives_its_creators_removal_and_deactivation(client, acme, cli):
    alice = acme["people"]["alice"]
    assert add_over_api(client, acme["pats"]["alice"]).status_code == 201
    created = key_for(client, acme["pats"]["alice"])
    assert created.status_code == 201, created.json
    secret = created.json["key"]
    assert created.json["user"] == "deploy@acme" and created.json["service_account"] is True

    projects.remove_member(projects.membership_of(acme["project"], "alice"), actor=alice)
    answer = client.get(VERIFY, headers=bearer(secret))
    assert answer.status_code == 200
    assert answer.json["user"]["username"] == "deploy@acme"
    assert answer.json["user"]["service_account"] is True
    assert answer.json["project"] == {"slug": "acme", "role": "editor"}

    assert cli("user", "deactivate", "alice").exit_code == 0
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    # ...while alice's own credentials stopped.
    assert client.get(VERIFY, headers=bearer(acme["pats"]["alice"])).status_code == 401
    bob = client.get(VERIFY, headers=bearer(acme["pats"]["bob"])).json["user"]
    assert bob["service_account"] is False
    write = client.post(
        "/api/v1/projects/acme/dashboards", json={"name": "deployed"}, headers=bearer(secret)
    )
    assert write.status_code == 201


@pytest.mark.parametrize("password", [PASSWORD, "!", "x" * 80])
def test_it_cannot_sign_in_with_any_password(client, auth, deploy, password):
    response = auth.post("/login", {"username": "deploy@acme", "password": password})
    assert response.status_code == 200
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert client.get("/").status_code in (302, 303)  # still signed out
    event = AuditEvent.select().where(AuditEvent.action == "login.failure").first()
    assert event is not None and event.actor_name == "deploy@acme"


def test_it_has_no_usable_password_and_none_can_be_set(cli, deploy):
    assert not deploy.password_hash.startswith(("$2", "$hmac"))
    result = cli("user", "set-password", "deploy@acme", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code != 0
    assert "service account" in result.output
    assert User.get_by_id(deploy.id).password_hash == deploy.password_hash


def test_it_cannot_hold_a_personal_access_token(cli, deploy):
    result = cli(
        "token", "create", "--user", "deploy@acme", "--note", "n",
        "--scope", "dashboard", "--expiration", "30",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "service account" in result.output and "tkp_" not in result.output
    assert not Credential.select().where(Credential.user == deploy.id).exists()
    with pytest.raises(accounts.AccountError, match="service account"):
        lifecycle.issue("pat", deploy, "n", scopes=["dashboard"])


def test_it_cannot_be_made_admin_or_owner_or_join_another_project(
    client, acme, deploy, make_project
):
    other = make_project("other", owner=acme["people"]["alice"])
    with pytest.raises(projects.ProjectError, match="service account"):
        projects.add_member(other, deploy, "viewer")
    response = client.post(
        "/api/v1/projects/other/users",
        json={"username": "deploy@acme", "role": "viewer"},
        headers=bearer(acme["pats"]["alice"]),
    )
    assert "another project" in assert_problem(response, 409)["detail"]
    change = client.patch(
        f"{MEMBERS}/deploy@acme", json={"role": "owner"}, headers=bearer(acme["pats"]["alice"])
    )
    assert "never an owner" in assert_problem(change, 409)["detail"]
    assert_problem(add_over_api(client, acme["pats"]["alice"], "ops", "owner"), 422, field="role")
    with pytest.raises(accounts.AccountError, match="service account"):
        accounts.set_admin(deploy, True)


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [("deploy", "deploy@acme"), ("Deploy", "deploy@acme"), ("ci.bot-1", "ci.bot-1@acme")],
)
def test_its_name_is_name_at_project(client, acme, given, stored):
    response = add_over_api(client, acme["pats"]["alice"], given)
    assert response.status_code == 201, response.json
    assert response.json == {
        "id": stored,
        "username": stored,
        "role": "editor",
        "service_account": True,
        "created_at": response.json["created_at"],
    }


@pytest.mark.parametrize("name", ["", "-x", "a b", "x@acme", "x@other", "é", "x" * 65])
def test_bad_names_are_refused_naming_the_field(client, acme, name):
    assert_problem(add_over_api(client, acme["pats"]["alice"], name), 422, field="username")


def test_a_name_too_long_with_the_projects_slug_is_invalid_naming_the_field_and_limit(client, acme):
    fits = add_over_api(client, acme["pats"]["alice"], "x" * 59)  # x...x@acme: 64 characters
    assert fits.status_code == 201
    too_long = add_over_api(client, acme["pats"]["alice"], "y" * 60)
    [error] = assert_problem(too_long, 422, field="username")["errors"]
    assert f"at most {USERNAME.high} characters" in error["message"]
    assert "at most 59 here" in error["message"]  # what fits beside "@acme"
    assert not User.select().where(User.username.startswith("yyy")).exists()


def test_cli_refuses_a_name_too_long_with_the_slug_as_a_usage_error(cli, acme):
    result = cli("project", "add-service-account", "acme", "y" * 60, "--role", "editor")
    assert result.exit_code == 2, result.output  # click's usage error
    assert "Invalid value for 'NAME'" in result.stderr
    assert f"at most {USERNAME.high} characters" in result.stderr
    assert not User.select().where(User.username.startswith("yyy")).exists()


def test_a_taken_name_is_a_conflict(client, acme, deploy):
    assert_problem(add_over_api(client, acme["pats"]["alice"]), 409)


def test_people_cannot_take_a_service_account_name(cli):
    result = cli("create-user", "deploy@acme", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code != 0


# --- who may do what: the role table ----------------------------------------------------------

# (caller, add, create its key, regenerate it, change its limits, revoke it, remove it)
ROLE_TABLE = [
    ("alice", 201, 201, 200, 200, 204, 204),  # owner
    ("erin", 201, 201, 200, 200, 204, 204),  # another owner: not only the one who added it
    ("bob", 403, 403, 404, 404, 404, 403),  # editor: does not even see its keys
    ("carol", 403, 403, 404, 404, 404, 403),  # viewer
    ("dave", 404, 404, 404, 404, 404, 404),  # not a member
]


@pytest.mark.parametrize(
    ("caller", "add", "create", "regenerate", "limits", "revoke", "remove"), ROLE_TABLE
)
def test_role_table_over_the_api(
    client, acme, deploy, make_key, caller, add, create, regenerate, limits, revoke, remove
):
    auth = bearer(acme["pats"][caller])
    key, _ = make_key(acme["project"], deploy)
    assert add_over_api(client, acme["pats"][caller], "ops").status_code == add
    assert key_for(client, acme["pats"][caller]).status_code == create
    url = f"{KEYS}/{key.id}"
    assert client.post(f"{url}/regenerate", json={}, headers=auth).status_code == regenerate
    assert client.patch(url, json={"rate_limit": 60}, headers=auth).status_code == limits
    assert client.delete(url, headers=auth).status_code == revoke
    assert client.delete(f"{MEMBERS}/deploy@acme", headers=auth).status_code == remove


def test_an_owner_cannot_create_a_key_acting_as_another_person(client, acme):
    response = key_for(client, acme["pats"]["alice"], user="bob")
    assert assert_problem(response, 403)["refused_by"] == "role"
    assert_problem(key_for(client, acme["pats"]["alice"], user="nobody"), 404)


def test_an_owner_still_cannot_regenerate_a_persons_key(client, acme, make_key):
    key, _ = make_key(acme["project"], acme["people"]["bob"])
    auth = bearer(acme["pats"]["alice"])
    assert client.post(f"{KEYS}/{key.id}/regenerate", json={}, headers=auth).status_code == 403


def test_a_project_key_cannot_create_keys_for_it(client, acme, deploy, make_key):
    _, owner_key = make_key(acme["project"], acme["people"]["alice"])
    response = key_for(client, owner_key)
    assert assert_problem(response, 403)["refused_by"] == "credential"


def test_its_own_key_cannot_manage_members_or_keys(client, acme, deploy, make_key):
    _, secret = make_key(acme["project"], deploy)
    assert_problem(add_over_api(client, secret, "ops"), 403)
    assert_problem(client.delete(f"{MEMBERS}/bob", headers=bearer(secret)), 403)
    assert_problem(key_for(client, secret), 403)


# --- removal ---------------------------------------------------------------------------------


def test_removing_it_revokes_its_keys_audited_with_the_person(client, acme, deploy, make_key):
    key, secret = make_key(acme["project"], deploy)
    response = client.delete(f"{MEMBERS}/deploy@acme", headers=bearer(acme["pats"]["erin"]))
    assert response.status_code == 204
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 401
    assert Credential.get_by_id(key.id).revoked_at is not None
    events = {
        e.action: e
        for e in AuditEvent.select().where(AuditEvent.target.in_(["deploy@acme", str(key.id)]))
    }
    assert events["service_account.add"].actor_name == "alice"
    assert events["service_account.remove"].actor_name == "erin"
    assert events["credential.revoke"].actor_name == "erin"
    assert User.get_by_id(deploy.id).is_active is False


def test_added_again_it_comes_back_without_its_old_keys(client, acme, deploy, make_key):
    _, secret = make_key(acme["project"], deploy)
    auth = bearer(acme["pats"]["alice"])
    assert client.delete(f"{MEMBERS}/deploy@acme", headers=auth).status_code == 204
    again = add_over_api(client, acme["pats"]["alice"], "deploy", "viewer")
    assert again.status_code == 201, again.json
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 401
    fresh = key_for(client, acme["pats"]["alice"], kind="export").json["key"]
    assert client.get(VERIFY, headers=bearer(fresh)).json["project"]["role"] == "viewer"


# --- listed as such --------------------------------------------------------------------------


def test_listed_as_such_in_the_api(client, acme, deploy, make_key):
    make_key(acme["project"], deploy)
    make_key(acme["project"], acme["people"]["alice"])
    auth = bearer(acme["pats"]["alice"])
    listed = client.get(MEMBERS, headers=auth).json["items"]
    members = {m["username"]: m["service_account"] for m in listed}
    assert members["deploy@acme"] is True and members["alice"] is False
    keys = {k["user"]: k["service_account"] for k in client.get(KEYS, headers=auth).json}
    assert keys == {"deploy@acme": True, "alice": False}
    one = client.get(f"{MEMBERS}/deploy@acme", headers=auth).json
    assert one["service_account"] is True


@pytest.mark.parametrize("query", ["", "?explain=1"])  # the fast path, and Flask's
def test_verify_says_service_account_from_the_account_not_its_name(
    client, acme, deploy, make_key, query
):
    _, its_key = make_key(acme["project"], deploy)
    _, persons_key = make_key(acme["project"], acme["people"]["bob"])
    # No person's name holds "@" (accounts.USERNAME), but a row from elsewhere (an import, a
    # hand edit) could: what the account is decides, as on every other face.
    User.update(username="carol@elsewhere").where(User.username == "carol").execute()

    def flag(secret):
        response = client.get(VERIFY + query, headers=bearer(secret))
        assert response.status_code == 200, response.json
        return response.json["user"]["service_account"]

    assert flag(its_key) is True
    assert flag(persons_key) is False
    assert flag(acme["pats"]["bob"]) is False
    assert flag(acme["pats"]["carol"]) is False
    listed = client.get(MEMBERS, headers=bearer(acme["pats"]["alice"])).json["items"]
    assert {m["username"]: m["service_account"] for m in listed}["carol@elsewhere"] is False


def test_cli_adds_it_and_creates_its_keys(cli, client, acme):
    result = cli("project", "add-service-account", "acme", "deploy", "--role", "viewer")
    assert result.exit_code == 0, result.output
    assert "deploy@acme" in result.output
    created = cli("key", "create", "acme", "--user", "deploy@acme", "--kind", "export")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert SECRET.fullmatch(secret)
    assert client.get(VERIFY, headers=bearer(secret)).json["user"]["username"] == "deploy@acme"
    users = {u["username"]: u for u in json.loads(cli("user", "list", "--json").stdout)}
    assert users["deploy@acme"]["service_account"] is True
    assert users["alice"]["service_account"] is False
    keys = json.loads(cli("key", "list", "acme", "--json").stdout)
    assert [k["service_account"] for k in keys] == [True]
    owner = cli("project", "add-service-account", "acme", "boss", "--role", "owner")
    assert owner.exit_code != 0 and "owner" in owner.output
    assert cli("project", "remove-member", "acme", "deploy@acme").exit_code == 0
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 401


# --- pages -----------------------------------------------------------------------------------


def page(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_owner_adds_it_on_the_members_page_and_manages_its_keys(client, auth, acme):
    assert auth.login("alice").status_code in (302, 303)
    members = "/projects/acme/members"
    response = auth.post(
        f"{members}/service-accounts", {"service_name": "deploy", "service_role": "editor"},
        form_page=members,
    )  # fmt: skip
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    listed = page(client, members)
    assert "deploy@acme" in listed and "service account" in listed

    keys = "/projects/acme/keys"
    assert "deploy@acme" in page(client, keys)
    response = auth.post(keys, {"kind": "full", "label": "ci", "acts_as": "deploy@acme",
                                "once": "x1"})  # fmt: skip
    assert response.status_code == 201
    secret = SECRET.search(response.get_data(as_text=True)).group(0)
    assert client.get(VERIFY, headers=bearer(secret)).json["user"]["username"] == "deploy@acme"
    key = Credential.get(Credential.note == "ci")
    assert key.user_id == User.get(User.username == "deploy@acme").id
    detail = f"{keys}/{key.id}"
    assert "service account" in page(client, detail)
    regenerated = auth.post(f"{detail}/regenerate", {"grace": "0", "once": "x2"}, form_page=detail)
    assert regenerated.status_code == 200
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 401
    event = AuditEvent.get(AuditEvent.action == "credential.regenerate")
    assert event.actor_name == "alice"


def test_members_page_says_a_name_too_long_with_the_slug_beside_the_field(client, auth, acme):
    assert auth.login("alice").status_code in (302, 303)
    members = "/projects/acme/members"
    response = auth.post(
        f"{members}/service-accounts", {"service_name": "y" * 60, "service_role": "editor"},
        form_page=members,
    )  # fmt: skip
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error = re.search(r'<p class="field-error" id="service_name-error">([^<]*)</p>', html)
    assert error and f"at most {USERNAME.high} characters" in error.group(1), html
    assert not User.select().where(User.username.startswith("yyy")).exists()


def test_members_page_refuses_a_non_owner(client, auth, acme, deploy, make_key):
    key, _ = make_key(acme["project"], deploy)
    assert auth.login("bob").status_code in (302, 303)
    members = "/projects/acme/members"
    assert "deploy@acme" in page(client, members)  # every member sees who is a member
    response = auth.post(
        f"{members}/service-accounts", {"service_name": "ops", "service_role": "viewer"},
        form_page=members,
    )  # fmt: skip
    assert response.status_code == 403
    keys = "/projects/acme/keys"
    refused = auth.post(keys, {"kind": "full", "label": "x", "acts_as": "deploy@acme",
                               "once": "y1"})  # fmt: skip
    assert refused.status_code == 403
    assert client.get(f"{keys}/{key.id}").status_code == 404
    assert not Credential.select().where(Credential.note == "x").exists()
    membership = projects.membership_of(acme["project"], "deploy@acme")
    for action in ("remove", "role"):
        response = auth.post(
            f"{members}/{membership.id}/{action}", {"role": "viewer"}, form_page=members
        )
        assert response.status_code == 403, action
    assert Credential.get_by_id(key.id).revoked_at is None


def test_on_the_members_page_an_owner_cannot_make_it_owner_and_removes_it(
    client, auth, acme, deploy, make_key
):
    key, secret = make_key(acme["project"], deploy)
    assert auth.login("alice").status_code in (302, 303)
    members = "/projects/acme/members"
    membership = projects.membership_of(acme["project"], "deploy@acme")
    assert auth.post(f"{members}/{membership.id}/role", {"role": "owner"}, form_page=members)
    assert "never an owner" in page(client, members)
    assert projects.membership_of(acme["project"], "deploy@acme").role == "editor"
    auth.post(f"{members}/{membership.id}/remove", {}, form_page=members)
    assert "Removed deploy@acme." in page(client, members)
    assert "deploy@acme" not in page(client, members)  # the flash is shown once
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 401


def test_admin_pages_list_it_as_such(client, auth, make_user, make_key, acme, deploy):
    make_key(acme["project"], deploy, label="ci deploy")
    make_user("root", admin=True)
    assert auth.login("root").status_code in (302, 303)
    listed = page(client, "/admin/users")
    row = listed.split("deploy@acme", 1)[1].split("</tr>", 1)[0]
    assert "service account" in row
    assert "Make admin" not in row and "Set password" not in row
    inventory = page(client, "/admin/credentials").split("ci deploy</td>", 1)[1]
    assert 'deploy@acme <span class="badge">service account</span>' in inventory


BADGE = '<span class="badge">service account</span>'


def audit_cells(html: str, column: str) -> dict[str, list[str]]:
    """The audit table's cells in `column` ("Actor", "Target"), by the name they start with."""
    table = html.split('<table class="audit">', 1)[1].split("</table>", 1)[0]
    headings = re.findall(r'<th scope="col">([^<]*)</th>', table)
    index = next(i for i, h in enumerate(headings) if h == column)
    cells: dict[str, list[str]] = {}
    for row in table.split("<tbody>", 1)[1].split("</tr>")[:-1]:
        cell = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[index].strip()
        name = re.sub(r"<[^>]+>", "", cell).split()[0] if cell else ""
        cells.setdefault(name, []).append(cell)
    return cells


@pytest.mark.parametrize("path", ["/projects/acme/audit", "/audit"])
def test_audit_pages_badge_service_account_actors_and_targets(
    client, auth, make_user, make_key, acme, deploy, path
):
    make_key(acme["project"], deploy, label="ci deploy")  # credential.create by deploy@acme
    make_key(acme["project"], acme["people"]["bob"], label="bob's")  # ... and by bob
    projects.change_role(
        projects.membership_of(acme["project"], "bob"), "viewer", actor=acme["people"]["alice"]
    )  # target bob
    make_user("root", admin=True)
    assert auth.login("root" if path == "/audit" else "alice").status_code in (302, 303)
    html = page(client, path)
    actors, targets = audit_cells(html, "Actor"), audit_cells(html, "Target")
    for cells in (actors["deploy@acme"], targets["deploy@acme"]):
        assert cells and all(BADGE in cell for cell in cells), cells
    for name in ("bob", "alice"):
        people = actors.get(name, []) + targets.get(name, [])
        assert people and not any(BADGE in cell for cell in people), people


def test_a_public_report_of_its_key_is_told_to_the_projects_owners(
    client, auth, acme, deploy, make_key
):
    _, secret = make_key(acme["project"], deploy, label="ci deploy")
    reported = client.post("/api/v1/credentials/revoke", json={"credentials": [secret]})
    assert reported.status_code == 202
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 401
    for person, told in (("alice", True), ("erin", True), ("bob", False)):
        assert auth.login(person).status_code in (302, 303)
        shown = client.get("/tokens").get_data(as_text=True)
        assert ("ci deploy (full access key) of deploy@acme" in shown) is told, person
        auth.logout()
