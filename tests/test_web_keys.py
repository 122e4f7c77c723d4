"""The key page ("developer tools") through the Flask test client, real credentials."""

import re

import pytest
from conftest import bearer
from markupsafe import escape

from tokenapp import db
from tokenapp.models import AuditEvent
from tokenapp.models import Credential
from tokenapp.models import Secret

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SECRET = re.compile(r"tk[efp]_[0-9A-Za-z]{20,}")


@pytest.fixture
def login(auth):
    def login(user):
        response = auth.login(user.username)
        assert response.status_code in (302, 303), response.get_data(as_text=True)

    return login


def html(response) -> str:
    return response.get_data(as_text=True)


def post_form(client, page: str, action: str, data: dict):
    """Post like a browser: the CSRF token comes from the page that holds the form."""
    token = CSRF.search(html(client.get(page)))
    assert token, f"no CSRF token on {page}"
    return client.post(action, data=dict(data, csrf_token=token.group(1)))


def all_rows_text(ctx) -> str:
    """Every row of every table as text: no full-key or PAT secret may be in there."""
    database = db.database
    chunks = []
    for table in database.get_tables():
        cursor = database.execute_sql(f'SELECT * FROM "{table}"')  # noqa: S608 (table names from the DB)
        chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


@pytest.fixture
def member(make_user, make_project, login):
    user = make_user()
    project = make_project(owner=user)
    login(user)
    return user, project


def keys_url(project) -> str:
    return f"/projects/{project.slug}/keys"


def create_key(client, project, kind, label="deploy"):
    return post_form(client, keys_url(project), keys_url(project), {"kind": kind, "label": label})


def only_key(user, project) -> Credential:
    (key,) = Credential.select().where(
        (Credential.user == user.id) & (Credential.project == project.id)
    )
    return key


def test_key_page_needs_login(client, make_project):
    project = make_project()
    response = client.get(keys_url(project))
    assert response.status_code in (302, 401)


def test_key_page_of_another_project_is_404(client, member, make_project):
    other = make_project()
    assert client.get(keys_url(other)).status_code == 404
    assert client.get("/projects/no-such-project/keys").status_code == 404
    response = post_form(
        client, keys_url(member[1]), keys_url(other), {"kind": "full", "label": "x"}
    )
    assert response.status_code == 404
    assert Credential.select().where(Credential.project == other.id).count() == 0


def test_export_key_is_visible_again_on_reload(client, member):
    user, project = member
    response = create_key(client, project, "export")
    assert response.status_code == 303
    key = only_key(user, project)
    page = html(client.get(keys_url(project)))
    secret = SECRET.search(page).group(0)
    assert secret.startswith("tke_")
    assert html(client.get(keys_url(project))).count(secret) >= 1
    assert f'data-copy="secret-{key.id}"' in page
    assert client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 200
    header_example = (
        f'curl -H "Authorization: Bearer {secret}" '
        f"http://localhost/api/v1/projects/{project.slug}/dashboards"
    )
    assert str(escape(header_example)) in page
    assert f"?key={secret}" not in page


def test_full_key_secret_is_shown_once(client, ctx, member, make_project):
    user, project = member
    response = create_key(client, project, "full", "ci")
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    page = html(response)
    secret = SECRET.search(page).group(0)
    assert secret.startswith("tkf_")
    assert "cannot be shown again" in page
    assert 'data-copy="new-key-secret"' in page
    assert client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 200
    for later in (keys_url(project), keys_url(project), "/tokens", "/"):
        assert secret not in html(client.get(later)), later
    assert Secret.select().where(Secret.clear == secret).count() == 0
    assert only_key(user, project).secrets.get().clear is None
    assert secret not in all_rows_text(ctx)


def test_no_full_key_secret_in_any_example(client, member):
    _, project = member
    secret = SECRET.search(html(create_key(client, project, "full"))).group(0)
    page = html(client.get(keys_url(project)))
    assert "$TOKENAPP_FULL_KEY" in page
    assert secret not in page
    assert "?key=tke_" in page


def test_regenerate_full_key_stops_old_secret_at_once(client, member):
    user, project = member
    old = SECRET.search(html(create_key(client, project, "full"))).group(0)
    key = only_key(user, project)
    response = post_form(
        client, keys_url(project), f"{keys_url(project)}/{key.id}/regenerate", {"grace": "0"}
    )
    assert response.status_code == 200
    new = SECRET.search(html(response)).group(0)
    assert new != old and "cannot be shown again" in html(response)
    assert client.get("/api/v1/auth/verify", headers=bearer(old)).status_code == 401
    assert client.get("/api/v1/auth/verify", headers=bearer(new)).status_code == 200
    assert new not in html(client.get(keys_url(project)))


def test_regenerate_full_key_with_grace_keeps_old_secret_until_then(client, app, clock, member):
    app.config["CLOCK"] = clock
    user, project = member
    old = SECRET.search(html(create_key(client, project, "full"))).group(0)
    key = only_key(user, project)
    response = post_form(
        client, keys_url(project), f"{keys_url(project)}/{key.id}/regenerate", {"grace": "2"}
    )
    new = SECRET.search(html(response)).group(0)
    grace_note = 'Previous secret valid until <time datetime="2030-01-03T12:00:00Z">'
    assert grace_note in html(client.get(keys_url(project)))
    assert client.get("/api/v1/auth/verify", headers=bearer(old)).status_code == 200
    clock.advance(days=2, seconds=1)
    assert client.get("/api/v1/auth/verify", headers=bearer(old)).status_code == 401
    assert client.get("/api/v1/auth/verify", headers=bearer(new)).status_code == 200
    assert "Previous secret valid until" not in html(client.get(keys_url(project)))


@pytest.mark.parametrize("grace", ["8", "-1", "soon"])
def test_regenerate_refuses_a_bad_grace_period(client, member, grace):
    user, project = member
    old = SECRET.search(html(create_key(client, project, "full"))).group(0)
    key = only_key(user, project)
    response = post_form(
        client, keys_url(project), f"{keys_url(project)}/{key.id}/regenerate", {"grace": grace}
    )
    assert response.status_code == 303
    assert client.get("/api/v1/auth/verify", headers=bearer(old)).status_code == 200


def test_regenerate_export_key_shows_the_new_secret_on_the_page(client, member):
    user, project = member
    create_key(client, project, "export")
    old = SECRET.search(html(client.get(keys_url(project)))).group(0)
    key = only_key(user, project)
    response = post_form(client, keys_url(project), f"{keys_url(project)}/{key.id}/regenerate", {})
    assert response.status_code == 303
    page = html(client.get(keys_url(project)))
    new = SECRET.search(page).group(0)
    assert new != old and old not in page
    assert client.get("/api/v1/auth/verify", headers=bearer(old)).status_code == 401
    assert client.get("/api/v1/auth/verify", headers=bearer(new)).status_code == 200


def test_revoke_key(client, member):
    user, project = member
    secret = SECRET.search(html(create_key(client, project, "full"))).group(0)
    key = only_key(user, project)
    page = html(client.get(keys_url(project)))
    assert "data-confirm=" in page
    response = post_form(client, keys_url(project), f"{keys_url(project)}/{key.id}/revoke", {})
    assert response.status_code == 303
    assert client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 401
    page = html(client.get(keys_url(project)))
    assert "state-revoked" in page
    assert f"{key.id}/regenerate" not in page
    folded = page.split('<details class="revoked">')[1]
    assert "Revoked (1)" in folded and "state-revoked" in folded
    assert "state-revoked" not in page.split('<details class="revoked">')[0]


def test_a_member_cannot_see_or_touch_another_members_keys(
    client, make_user, make_project, make_key, login
):
    owner, editor = make_user(), make_user()
    project = make_project(owner=owner, members=[(editor, "editor")])
    key, secret = make_key(project, owner, "full", label="owner laptop")
    login(editor)
    for action in ("regenerate", "revoke", "limits"):
        response = post_form(
            client, keys_url(project), f"{keys_url(project)}/{key.id}/{action}", {}
        )
        assert response.status_code == 404
    assert client.get(f"{keys_url(project)}/{key.id}").status_code == 404
    assert str(key.id) not in html(client.get(keys_url(project)))
    assert "Other members" not in html(client.get(keys_url(project)))
    assert client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 200


def test_an_owner_sees_every_key_and_revokes_a_teammates(client, member, make_user, make_key):
    _, project = member
    bob = make_user("bob")
    from tokenapp import projects

    projects.add_member(project, bob, "editor")
    key, secret = make_key(project, bob, "full", label="bob laptop")
    export, export_secret = make_key(project, bob, "export", label="bob export")
    page = html(client.get(keys_url(project)))
    assert "bob laptop" in page and "bob export" in page
    assert 'aria-labelledby="member-keys"' in page
    assert export_secret not in page  # only its member reads an export key's secret
    detail = html(client.get(f"{keys_url(project)}/{key.id}"))
    assert "only they can regenerate it" in detail and "bob" in detail
    # A key acts as its member: the owner may not mint its secret or change its limits.
    for action in ("regenerate", "limits"):
        response = post_form(
            client, keys_url(project), f"{keys_url(project)}/{key.id}/{action}", {}
        )
        assert response.status_code == 403
    assert client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 200
    response = post_form(client, keys_url(project), f"{keys_url(project)}/{key.id}/revoke", {})
    assert response.status_code == 303
    assert client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 401
    event = AuditEvent.get(AuditEvent.action == "credential.revoke")
    assert (event.target, event.actor_name) == (str(key.id), member[0].username)
    assert client.get("/api/v1/auth/verify", headers=bearer(export_secret)).status_code == 200


def test_viewer_may_create_a_full_key_that_can_only_read(
    client, make_user, make_project, login, make_key
):
    viewer = make_user()
    project = make_project(members=[(viewer, "viewer")])
    login(viewer)
    page = html(client.get(keys_url(project)))
    assert "as a viewer, even a full access key can only read" in page
    secret = SECRET.search(html(create_key(client, project, "full"))).group(0)
    url = f"/api/v1/projects/{project.slug}/dashboards"
    assert client.get(url, headers=bearer(secret)).status_code == 200
    assert client.post(url, json={"name": "x"}, headers=bearer(secret)).status_code == 403


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "full", "label": ""}, "Give the key a label."),
        ({"kind": "full", "label": "   "}, "Give the key a label."),
        ({"kind": "full", "label": "x" * 256}, "1 to 255 characters"),
        ({"kind": "admin", "label": "x"}, "Not a valid choice"),
    ],
)
def test_create_key_validation_creates_nothing(client, member, data, message):
    user, project = member
    response = create_key(client, project, **data)
    assert response.status_code == 422
    assert message in html(response)
    assert Credential.select().where(Credential.user == user.id).count() == 0


def test_forms_need_csrf(client, member):
    _, project = member
    response = client.post(keys_url(project), data={"kind": "full", "label": "x"})
    assert response.status_code == 400
    assert Credential.select().count() == 0


def test_key_page_has_no_inline_script_or_style(client, member):
    _, project = member
    page = html(create_key(client, project, "full"))
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "style=" not in page and "<style" not in page
    assert " on" + "click=" not in page


def test_the_key_page_searches_sorts_and_pages_other_members_keys(
    client, member, make_user, make_key
):
    from tokenapp import projects

    _, project = member
    for n in range(52):
        mate = make_user(f"mate{n:02}")
        projects.add_member(project, mate, "editor")
        make_key(project, mate, "export", label=f"laptop {n:02}")
    first = html(client.get(keys_url(project)))
    assert 'rel="next"' in first and "laptop 00" in first and "laptop 51" not in first
    assert "laptop 51" in html(client.get(f"{keys_url(project)}?page=2"))
    found = html(client.get(f"{keys_url(project)}?q=mate07"))
    assert "laptop 07" in found and "laptop 08" not in found
    by_label = html(client.get(f"{keys_url(project)}?sort=label"))
    assert by_label.index("laptop 00") < by_label.index("laptop 01")
    for query in ("page=0", "page=99999999999999999999", "sort=evil", "q=%25_"):
        assert client.get(f"{keys_url(project)}?{query}").status_code == 200


def test_a_bad_key_form_says_so_above_the_fields(client, member):
    _, project = member
    response = create_key(client, project, "full", label="")
    page = html(response)
    assert response.status_code == 422
    assert "No key was created: correct the fields marked below." in page
    assert 'aria-invalid="true"' in page


def test_a_key_that_ends_with_its_token_shows_when_and_can_be_revoked_once_expired(
    app, client, clock, member, make_token
):
    """A key made through the API by an expiring token ends with it (issue 12): its pages
    say when, and an expired key, which no longer works, can still be revoked there."""
    app.config["CLOCK"] = clock
    user, project = member
    every = ["automation", "company", "connector_auth", "connectors", "dashboard", "embed"]
    _, pat = make_token(every, user=user, days=30)
    response = client.post(
        f"/api/v1{keys_url(project)}", json={"kind": "export", "label": "ci"}, headers=bearer(pat)
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    made = response.get_json()
    detail = f"{keys_url(project)}/{made['id']}"
    assert "Expires" in html(client.get(detail))
    assert "Expires" in html(client.get(keys_url(project)))
    clock.advance(days=31)
    page = html(client.get(detail))
    assert "state-expired" in page and f"{made['id']}/regenerate" not in page
    assert f"{made['id']}/revoke" in page
    assert f"{made['id']}/revoke" in html(client.get(keys_url(project)))
    assert post_form(client, detail, f"{detail}/revoke", {}).status_code == 303
    assert Credential.get_by_id(made["id"]).revoked_at is not None
