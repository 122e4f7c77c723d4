"""Project list, overview and members pages, through the test client."""

import re

import pytest
from conftest import AuthActions

from tokenapp import projects
from tokenapp.models import Membership
from tokenapp.models import Project

FLASH_ERROR = re.compile(r'class="flash flash-error" role="alert">([^<]+)<')


def page(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def role_of(project, user) -> str | None:
    return Membership.role_of(user.id, project.id)


@pytest.fixture
def alice(auth, make_user):
    user = make_user("alice")
    auth.login("alice")
    return user


@pytest.fixture
def as_user(app):
    """Another browser, signed in as username."""

    def sign_in(username):
        actions = AuthActions(app.test_client())
        assert actions.login(username).status_code == 302
        return actions

    return sign_in


# --- list and create ------------------------------------------------------------------


def test_index_lists_my_projects_with_my_role(client, alice, make_project, make_user):
    make_project("mine", owner=alice)
    make_project("shared", members=[(alice, "viewer")])
    make_project("secret")
    html = page(client, "/")
    assert "mine" in html and "shared" in html
    assert "secret" not in html
    rows = re.findall(r"<code>([a-z-]+)</code></td>\s*<td><span class=\"badge\">(\w+)<", html)
    assert rows == [("mine", "owner"), ("shared", "viewer")]


def test_creating_a_project_makes_me_its_owner(client, auth, alice):
    response = auth.post("/projects", {"slug": "billing-api", "name": "Billing"}, form_page="/")
    assert response.status_code == 302
    assert response.location == "/projects/billing-api"
    project = Project.get(Project.slug == "billing-api")
    assert project.name == "Billing"
    assert role_of(project, alice) == "owner"


@pytest.mark.parametrize(
    ("slug", "status", "message"),
    [("Bad Slug!", 400, "Slugs are"), ("taken", 409, "is taken")],
)
def test_bad_or_taken_slug_is_explained(client, auth, alice, make_project, slug, status, message):
    make_project("taken")
    response = auth.post("/projects", {"slug": slug, "name": ""}, form_page="/")
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert Project.select().count() == 1


def test_create_project_without_csrf_token_is_refused(client, alice):
    response = client.post("/projects", data={"slug": "sneaky"})
    assert response.status_code == 400
    assert not Project.select().where(Project.slug == "sneaky").exists()


def test_overview_shows_role_and_links(client, alice, make_project):
    make_project("demo", members=[(alice, "editor")])
    html = page(client, "/projects/demo")
    assert '<span class="badge">editor</span>' in html
    assert 'href="/projects/demo/keys"' in html
    assert 'href="/projects/demo/members"' in html


# --- who may see a project --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/projects/demo", "/projects/demo/members"])
def test_non_members_get_404(client, alice, make_project, path):
    make_project("demo")
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert client.get(path.replace("demo", "missing")).status_code == 404


def test_non_members_cannot_post_to_members(client, auth, alice, make_project, make_user):
    project = make_project("demo")
    make_user("bob")
    response = auth.post(
        "/projects/demo/members", {"username": "bob", "role": "owner"}, form_page="/"
    )
    assert response.status_code == 404
    assert Membership.select().where(Membership.project == project).count() == 1


def test_admins_are_not_members_by_default_but_open_any_project(auth, make_user, make_project):
    make_user("root", admin=True)
    make_project("demo")
    auth.login("root")
    overview = auth.client.get("/projects/demo")
    assert overview.status_code == 200
    assert "not a member" in overview.get_data(as_text=True)
    # Not a member: the member-only pages stay closed until an owner is appointed.
    assert auth.client.get("/projects/demo/keys").status_code == 404
    assert auth.client.get("/projects/nope").status_code == 404


# --- members ------------------------------------------------------------------------------


def test_every_member_sees_the_list_but_only_owners_get_forms(
    client, alice, make_project, make_user
):
    project = make_project("demo", members=[(alice, "viewer"), (make_user("bob"), "editor")])
    html = page(client, "/projects/demo/members")
    for membership in projects.members(project):
        assert membership.user.username in html
    assert "Add a member" not in html
    assert "/remove" not in html


def test_viewers_and_editors_cannot_manage_members(client, auth, alice, make_project, make_user):
    bob = make_user("bob")
    project = make_project("demo", members=[(alice, "editor"), (bob, "viewer")])
    bobs = projects.membership_of(project, "bob")
    posts = [
        ("/projects/demo/members", {"username": "bob", "role": "owner"}),
        (f"/projects/demo/members/{bobs.id}/role", {"role": "owner"}),
        (f"/projects/demo/members/{bobs.id}/remove", {}),
    ]
    for path, data in posts:
        response = auth.post(path, data, form_page="/projects/demo/members")
        assert response.status_code == 403, path
    assert role_of(project, bob) == "viewer"


def test_owner_adds_changes_and_removes_a_member(client, auth, alice, make_project, make_user):
    bob = make_user("bob")
    project = make_project("demo", owner=alice)
    members_page = "/projects/demo/members"
    response = auth.post(members_page, {"username": "Bob", "role": "editor"})
    assert response.status_code == 302
    assert role_of(project, bob) == "editor"
    membership = projects.membership_of(project, "bob")
    auth.post(f"{members_page}/{membership.id}/role", {"role": "viewer"}, form_page=members_page)
    assert role_of(project, bob) == "viewer"
    auth.post(f"{members_page}/{membership.id}/remove", {}, form_page=members_page)
    assert role_of(project, bob) is None


@pytest.mark.parametrize(
    ("username", "status", "message"),
    [("nobody", 400, "No active user"), ("alice", 409, "already a member")],
)
def test_adding_an_unknown_user_or_a_member_again_is_explained(
    client, auth, alice, make_project, username, status, message
):
    make_project("demo", owner=alice)
    response = auth.post("/projects/demo/members", {"username": username, "role": "viewer"})
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_an_unknown_role_is_refused(client, auth, alice, make_project, make_user):
    bob = make_user("bob")
    project = make_project("demo", owner=alice)
    response = auth.post("/projects/demo/members", {"username": "bob", "role": "god"})
    assert response.status_code == 400
    assert role_of(project, bob) is None


def test_added_member_sees_the_project(client, auth, alice, make_project, make_user, as_user):
    make_user("bob")
    make_project("demo", owner=alice)
    bob = as_user("bob")
    assert bob.client.get("/projects/demo").status_code == 404
    auth.post("/projects/demo/members", {"username": "bob", "role": "viewer"})
    assert bob.client.get("/projects/demo").status_code == 200


def test_removed_member_gets_404_at_once(client, auth, alice, make_project, make_user, as_user):
    bob_user = make_user("bob")
    project = make_project("demo", owner=alice, members=[(bob_user, "editor")])
    bob = as_user("bob")
    assert bob.client.get("/projects/demo").status_code == 200
    membership = projects.membership_of(project, "bob")
    auth.post(f"/projects/demo/members/{membership.id}/remove", {}, form_page="/projects/demo")
    assert bob.client.get("/projects/demo").status_code == 404


@pytest.mark.parametrize(("action", "data"), [("role", {"role": "editor"}), ("remove", {})])
def test_the_last_owner_cannot_be_demoted_or_removed(
    client, auth, alice, make_project, action, data
):
    project = make_project("demo", owner=alice)
    mine = projects.membership_of(project, "alice")
    response = auth.post(
        f"/projects/demo/members/{mine.id}/{action}", data, form_page="/projects/demo"
    )
    assert response.status_code == 302
    assert role_of(project, alice) == "owner"
    flashed = FLASH_ERROR.search(page(client, "/projects/demo/members"))
    assert flashed and "owner" in flashed.group(1)


def test_with_a_second_owner_the_first_may_step_down(client, auth, alice, make_project, make_user):
    bob = make_user("bob")
    project = make_project("demo", owner=alice, members=[(bob, "owner")])
    mine = projects.membership_of(project, "alice")
    auth.post(f"/projects/demo/members/{mine.id}/role", {"role": "viewer"}, form_page="/")
    assert role_of(project, alice) == "viewer"
    # Now alice is a viewer: no more member management for her.
    bobs = projects.membership_of(project, "bob")
    response = auth.post(f"/projects/demo/members/{bobs.id}/remove", {}, form_page="/")
    assert response.status_code == 403
    assert role_of(project, bob) == "owner"


def test_members_of_another_project_cannot_be_touched(client, auth, alice, make_project, make_user):
    make_project("demo", owner=alice)
    bob = make_user("bob")
    other = make_project("other", owner=bob)
    bobs = projects.membership_of(other, "bob")
    response = auth.post(f"/projects/demo/members/{bobs.id}/remove", {}, form_page="/")
    assert response.status_code == 404
    assert role_of(other, bob) == "owner"


def test_owner_leaving_goes_back_to_the_project_list(client, auth, alice, make_project, make_user):
    project = make_project("demo", owner=alice, members=[(make_user("bob"), "owner")])
    mine = projects.membership_of(project, "alice")
    response = auth.post(f"/projects/demo/members/{mine.id}/remove", {}, form_page="/")
    assert response.location == "/"
    assert client.get("/projects/demo").status_code == 404


def test_members_are_searched_sorted_and_paged(client, auth, alice, make_project, make_user):
    project = make_project("demo", owner=alice)
    for n in range(55):
        projects.add_member(project, make_user(f"member{n:02}"), "viewer")
    projects.add_member(project, make_user("zed"), "editor")
    first = page(client, "/projects/demo/members")
    assert 'rel="next"' in first
    by_role = page(client, "/projects/demo/members?sort=role")
    assert by_role.index("alice") < by_role.index("zed") < by_role.index("member00")
    found = page(client, "/projects/demo/members?q=ZED")
    assert "zed" in found and "member00" not in found
    for query in ("page=0", "page=999999999999999999999", "sort=x", "q=%25"):
        assert client.get(f"/projects/demo/members?{query}").status_code == 200
