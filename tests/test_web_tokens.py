"""Personal access token pages through the Flask test client, real credentials."""

import datetime
import re

import pytest
from conftest import bearer
from test_web_keys import SECRET
from test_web_keys import all_rows_text
from test_web_keys import html
from test_web_keys import post_form

from tokenapp import lifecycle
from tokenapp import projects
from tokenapp.models import Credential
from tokenapp.models import Secret

NEW = "/tokens/new"
START = datetime.datetime(2030, 1, 1, 12, 0, 0)


@pytest.fixture
def user(app, clock, make_user, auth):
    app.config["CLOCK"] = clock
    user = make_user()
    response = auth.login(user.username)
    assert response.status_code in (302, 303)
    return user


def form(note="deploy", expiry="30", custom_days="", **scopes):
    """Form data as the browser sends it; scopes as scope_<name>=level or scope_<name>__ext=y."""
    data = {"note": note, "expiry": expiry, "custom_days": custom_days}
    data.update({f"scope_{name}": level for name, level in scopes.items()})
    return data


def create(client, **kwargs):
    kwargs.setdefault("dashboard", "view")
    return post_form(client, NEW, NEW, form(**kwargs))


def create_ok(client, **kwargs) -> tuple[Credential, str]:
    response = create(client, **kwargs)
    assert response.status_code == 201, html(response)
    secret = SECRET.search(html(response)).group(0)
    credential = Credential.select().order_by(Credential.created_at.desc()).first()
    return credential, secret


def verify(client, secret):
    return client.get("/api/v1/auth/verify", headers=bearer(secret))


def test_create_token_shows_the_secret_once(client, ctx, user, make_project):
    project = make_project(owner=user)
    response = create(client, note="ci deploy", dashboard="manage")
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    page = html(response)
    secret = SECRET.search(page).group(0)
    assert secret.startswith("tkp_")
    assert "cannot be shown again" in page and 'data-copy="new-token-secret"' in page
    credential = Credential.get(Credential.note == "ci deploy")
    assert verify(client, secret).get_json()["credential"]["scopes"] == ["dashboard:manage"]
    later = [
        "/tokens",
        "/tokens",
        f"/tokens/{credential.id}",
        f"/tokens/{credential.id}/edit",
        NEW,
        f"/projects/{project.slug}/keys",
        "/",
    ]
    for path in later:
        response = client.get(path)
        assert response.status_code == 200, path
        assert secret not in html(response), path
    assert Secret.select().where(Secret.clear.is_null(False)).count() == 0
    assert secret not in all_rows_text(ctx)


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (
            {"automation": "manage", "automation__webhook_run": "y"},
            ["automation:manage", "automation:webhook_run"],
        ),
        ({"automation__webhook_run": "y"}, ["automation:webhook_run"]),
        ({"dashboard": "full", "embed": "view"}, ["dashboard", "embed:view"]),
        (
            {"company": "view", "connector_auth": "manage", "connectors": "full"},
            ["company:view", "connector_auth:manage", "connectors"],
        ),
        ({"dashboard": "none", "embed": "view"}, ["embed:view"]),
    ],
)
def test_scope_picker_gives_scope_strings(client, user, scopes, expected):
    credential, _ = create_ok(client, **{"dashboard": "none", **scopes})
    assert credential.scopes == expected


def test_scope_picker_is_built_from_the_catalogue(client, app, user):
    page = html(client.get(NEW))
    catalogue = app.extensions["tokenapp.scopes"]
    for scope in catalogue.scopes.values():
        assert f'name="scope_{scope.name}"' in page
        for ext in scope.extensions:
            if ext == "webhook_run":
                assert f'name="scope_{scope.name}__{ext}" type="checkbox"' in page
            else:
                assert f'name="scope_{scope.name}" type="radio" value="{ext or "full"}"' in page
    assert page.count('type="checkbox"') == 1


@pytest.mark.parametrize(
    ("expiry", "custom", "days"),
    [("7", "", 7), ("30", "", 30), ("60", "", 60), ("90", "", 90), ("custom", "45", 45)]
    + [("custom", "3650", 3650), ("never", "", None), ("90", "0", 90)],
)
def test_expiry_picker(client, user, expiry, custom, days):
    credential, _ = create_ok(client, expiry=expiry, custom_days=custom)
    expected = None if days is None else START + datetime.timedelta(days=days)
    assert credential.expires_at == expected


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (form(note=""), "note", "Write a note"),
        (form(note="   "), "note", "Write a note"),
        (form(note="x" * 256), "note", "1 to 255 characters"),
        (form(), "scopes", "Choose at least one scope."),
        (form(dashboard="none"), "scopes", "Choose at least one scope."),
        (form(dashboard="admin"), "scope_dashboard", "Not a valid choice"),
        (form(expiry="custom", custom_days="0", dashboard="view"), "custom_days", "1 to 3650"),
        (form(expiry="custom", custom_days="4000", dashboard="view"), "custom_days", "1 to 3650"),
        (form(expiry="custom", custom_days="", dashboard="view"), "custom_days", "1 to 3650"),
        (form(expiry="custom", custom_days="2.5", dashboard="view"), "custom_days", "1 to 3650"),
        (form(expiry="365", dashboard="view"), "expiry", "Not a valid choice"),
    ],
)
def test_create_validation_errors_create_nothing(client, user, data, field, message):
    response = post_form(client, NEW, NEW, data)
    assert response.status_code == 422
    page = html(response)
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    if field == "scope_dashboard":
        assert message in page
    else:
        assert error and message in error.group(1), page
    assert "The token was not created" in page
    assert Credential.select().count() == 0


def test_edit_note_and_scopes_keeps_the_secret(client, user):
    credential, secret = create_ok(
        client, automation="manage", automation__webhook_run="y", dashboard="full"
    )
    edit = f"/tokens/{credential.id}/edit"
    page = html(client.get(edit))
    assert 'name="scope_automation" type="radio" value="manage" checked' in page or re.search(
        r'checked[^>]*name="scope_automation"[^>]*value="manage"', page
    )
    assert re.search(r'checked[^>]*name="scope_automation__webhook_run"', page)
    response = post_form(client, edit, edit, {"note": "renamed", "scope_embed": "view"})
    assert response.status_code == 303
    credential = Credential.get_by_id(credential.id)
    assert (credential.note, credential.scopes) == ("renamed", ["embed:view"])
    assert verify(client, secret).get_json()["credential"]["scopes"] == ["embed:view"]
    assert secret not in html(client.get(f"/tokens/{credential.id}"))


def test_edit_validation_changes_nothing(client, user):
    credential, _ = create_ok(client, note="keep me", dashboard="view")
    edit = f"/tokens/{credential.id}/edit"
    response = post_form(client, edit, edit, {"note": "", "scope_dashboard": "none"})
    assert response.status_code == 422
    page = html(response)
    assert "Write a note" in page and "Choose at least one scope." in page
    credential = Credential.get_by_id(credential.id)
    assert (credential.note, credential.scopes) == ("keep me", ["dashboard:view"])


def test_regenerate_stops_the_old_secret_and_sets_a_new_expiry(client, user):
    credential, old = create_ok(client, expiry="7")
    detail = f"/tokens/{credential.id}"
    response = post_form(client, detail, f"{detail}/regenerate", {"expiry": "90", "grace": "0"})
    assert response.status_code == 200
    new = SECRET.search(html(response)).group(0)
    assert new != old and "cannot be shown again" in html(response)
    assert verify(client, old).status_code == 401
    assert verify(client, new).status_code == 200
    assert Credential.get_by_id(credential.id).expires_at == START + datetime.timedelta(days=90)
    for path in ("/tokens", detail, detail, f"{detail}/edit"):
        assert new not in html(client.get(path)) and old not in html(client.get(path))
    assert Secret.select().where(Secret.clear.is_null(False)).count() == 0


def test_regenerate_with_grace_keeps_the_old_secret_until_then(client, clock, user):
    credential, old = create_ok(client, expiry="never")
    detail = f"/tokens/{credential.id}"
    response = post_form(client, detail, f"{detail}/regenerate", {"expiry": "never", "grace": "3"})
    new = SECRET.search(html(response)).group(0)
    assert verify(client, old).status_code == 200
    assert 'valid until <time datetime="2030-01-04T12:00:00Z">' in html(client.get(detail))
    clock.advance(days=3, seconds=1)
    assert verify(client, old).status_code == 401
    assert verify(client, new).status_code == 200


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"expiry": "30", "grace": "8"}, "grace"),
        ({"expiry": "custom", "custom_days": "4000"}, "custom_days"),
    ],
)
def test_regenerate_validation_keeps_the_secret(client, user, data, field):
    credential, old = create_ok(client)
    detail = f"/tokens/{credential.id}"
    response = post_form(client, detail, f"{detail}/regenerate", data)
    assert response.status_code == 422
    assert f'id="{field}-error"' in html(response)
    assert verify(client, old).status_code == 200


def test_delete_revokes_and_the_row_stays(client, user):
    credential, secret = create_ok(client, note="to delete")
    detail = f"/tokens/{credential.id}"
    assert "data-confirm=" in html(client.get(detail))
    response = post_form(client, detail, f"{detail}/delete", {})
    assert response.status_code == 303
    assert verify(client, secret).status_code == 401
    listing = html(client.get("/tokens"))
    assert "to delete" in listing and "state-revoked" in listing
    page = html(client.get(detail))
    assert "state-revoked" in page and f"{detail}/regenerate" not in page
    assert client.get(f"{detail}/edit").status_code == 409


def test_expired_and_expiring_tokens_are_shown_as_such(client, clock, user):
    credential, secret = create_ok(client, expiry="30")
    assert "state-active" in html(client.get("/tokens"))
    clock.advance(days=24)
    assert ">expires soon<" in html(client.get("/tokens"))
    clock.advance(days=7)
    listing = html(client.get("/tokens"))
    assert ">expired<" in listing and "state-expired" in listing
    assert verify(client, secret).status_code == 401
    assert "it can do nothing" in html(client.get(f"/tokens/{credential.id}"))


def test_tokens_of_other_users_are_404(client, user, make_token):
    other, secret = make_token()
    base = f"/tokens/{other.id}"
    assert client.get(base).status_code == 404
    assert client.get(f"{base}/edit").status_code == 404
    own, _ = create_ok(client)
    mine = f"/tokens/{own.id}"
    for action in ("regenerate", "delete", "edit"):
        response = post_form(client, mine, f"{base}/{action}", {"expiry": "7", "note": "x"})
        assert response.status_code == 404
    assert client.get("/tokens/not-a-uuid").status_code == 404
    assert other.note not in html(client.get("/tokens"))
    assert verify(client, secret).status_code == 200


def access_cells(page: str, slug: str, entity: str) -> dict:
    section = page.split(f'id="access-{slug}"', 1)[1].split("</table>", 1)[0]
    row = re.search(rf'<th scope="row">{entity}</th>(.*?)</tr>', section, re.S).group(1)
    cells = re.findall(r'<td class="(\w+)">(?:<span[^>]*>[^<]*</span>)?([^<]*)</td>', row)
    header = re.findall(r'<th scope="col">(\w+)</th>', section)[1:]
    return dict(zip(header, [text.strip() for _, text in cells], strict=True))


def test_effective_access_names_what_refuses(client, user, make_project, make_user):
    mine = make_project(owner=user)
    theirs = make_project(owner=make_user())
    projects.add_member(theirs, user, "viewer")
    credential, _ = create_ok(client, dashboard="manage", automation__webhook_run="y")
    page = html(client.get(f"/tokens/{credential.id}"))
    owned = access_cells(page, mine.slug, "dashboards")
    assert owned["create"] == "allowed" and owned["read"] == "allowed"
    assert owned["delete"] == "refused by scope"
    viewing = access_cells(page, theirs.slug, "dashboards")
    assert viewing["read"] == "allowed" and viewing["create"] == "refused by role"
    assert viewing["delete"] == "refused by scope"
    flows = access_cells(page, mine.slug, "flows")
    assert flows["webhook"] == "allowed" and flows["read"] == "refused by scope"
    assert access_cells(page, theirs.slug, "flows")["webhook"] == "refused by role"
    # What it can do comes first, in a few lines; the full table is folded below it.
    can = page.split(f'aria-label="What this token can do in {mine.slug}"', 1)[1].split("</ul>")[0]
    assert "<strong>dashboards</strong>: create, read, update" in can
    assert "<strong>flows</strong>: webhook" in can
    assert "insights" in can and "embeds" not in can


def test_token_pages_need_login_and_csrf(client, app, make_user, auth):
    assert client.get("/tokens").status_code in (302, 401)
    user = make_user()
    auth.login(user.username)
    response = client.post(NEW, data=form(dashboard="view"))
    assert response.status_code == 400
    assert Credential.select().count() == 0


def test_regenerated_token_for_expired_token_revives_it(client, clock, user):
    credential, old = create_ok(client, expiry="7")
    clock.advance(days=8)
    detail = f"/tokens/{credential.id}"
    response = post_form(client, detail, f"{detail}/regenerate", {"expiry": "30", "grace": "0"})
    new = SECRET.search(html(response)).group(0)
    assert verify(client, new).status_code == 200
    assert lifecycle.grace_until(credential.id) is None


def test_token_pages_have_no_inline_script_or_style(client, user):
    credential, _ = create_ok(client)
    for path in ("/tokens", NEW, f"/tokens/{credential.id}", f"/tokens/{credential.id}/edit"):
        page = html(client.get(path))
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert "style=" not in page and "<style" not in page, path


def test_the_new_token_form_reads_in_ascending_order_and_warns_of_no_expiry(client, user):
    page = html(client.get("/tokens/new"))
    levels = re.findall(r'name="scope_dashboard"[^>]*value="([^"]+)"', page)
    assert levels == ["none", "view", "manage", "full"]
    expiries = re.findall(r'name="expiry"[^>]*value="([^"]+)"', page)
    assert expiries == ["7", "30", "60", "90", "custom", "never"]
    warning = page.split('data-show-when="never"')[1].split("</p>")[0]
    assert "hidden" in warning.split(">")[0]  # shown when "No expiry" is chosen
    assert "works until someone revokes it" in warning
    assert "data-expiry-preview" in page
    chosen_never = html(create(client, expiry="never", note=""))  # comes back with an error
    assert 'data-show-when="never">' in chosen_never  # not hidden: "No expiry" is chosen


def test_the_list_searches_sorts_pages_and_folds_revoked_tokens(client, user, make_token, clock):
    for n in range(30):
        make_token(user=user, note=f"deploy {n:02}")
        clock.advance(minutes=1)
    make_token(user=user, note="grafana 100%")
    gone, _ = make_token(user=user, note="old laptop")
    lifecycle.revoke(gone)

    first = html(client.get("/tokens"))
    live = first.split('<details class="revoked">')[0]
    assert "grafana 100%" in live and "old laptop" not in live
    assert "Revoked (1)" in first and "old laptop" in first.split('<details class="revoked">')[1]
    assert 'rel="next"' in first and live.count("/tokens/") - live.count("/tokens/new") == 25

    second = html(client.get("/tokens?page=2"))
    assert 'rel="prev"' in second and 'rel="next"' not in second
    found = html(client.get("/tokens", query_string={"q": "100%"}))
    assert "grafana 100%" in found and "deploy 00" not in found
    assert "No live token matches" in html(client.get("/tokens?q=_"))  # _ is no wildcard
    by_note = html(client.get("/tokens?sort=note"))
    assert by_note.index("deploy 00") < by_note.index("deploy 01")
    for query in ("page=0", "page=-1", "page=99999999999999999999", "sort=secret", "q=%00x"):
        assert client.get(f"/tokens?{query}").status_code in (200, 400)
