"""A reload of the page that shows a new secret must not mint another one."""

import re
import secrets

import pytest
from conftest import bearer

from tokenapp.models import Credential
from tokenapp.models import Secret

HIDDEN = re.compile(r'name="(csrf_token|once)" type="hidden" value="([^"]+)"')
SECRET = re.compile(r"tk[fp]_[0-9A-Za-z]{30,}")


def form_fields(client, page: str, action: str) -> dict:
    """The hidden fields of the form on `page` that posts to `action`, as a browser sends them."""
    html = client.get(page).get_data(as_text=True)
    start = html.index(f'action="{action}"')
    end = html.index("</form>", start)
    return dict(HIDDEN.findall(html[start:end]))


@pytest.fixture
def member(make_user, make_project, auth):
    user = make_user()
    project = make_project(owner=user)
    assert auth.login(user.username).status_code in (302, 303)
    return user, project


def test_resending_the_create_key_form_makes_one_key(client, member):
    user, project = member
    page = f"/projects/{project.slug}/keys"
    data = dict(form_fields(client, page, page), kind="full", label="deploy")
    first = client.post(page, data=data)
    assert first.status_code == 201 and SECRET.search(first.get_data(as_text=True))
    again = client.post(page, data=data)
    assert again.status_code == 303
    assert not SECRET.search(client.get(again.location).get_data(as_text=True))
    assert Credential.select().where(Credential.kind == "full").count() == 1


def test_resending_the_regenerate_form_rotates_once(client, member, make_key):
    user, project = member
    key, _ = make_key(project, user, "full")
    page = f"/projects/{project.slug}/keys/{key.id}"  # a key's regenerate form is on its page
    action = f"{page}/regenerate"
    data = dict(form_fields(client, page, action), grace="0")
    assert client.post(action, data=data).status_code == 200
    digest = Secret.select(Secret.digest).where(Secret.expires_at.is_null()).scalar()
    assert client.post(action, data=data).status_code == 303
    assert Secret.select(Secret.digest).where(Secret.expires_at.is_null()).scalar() == digest


def test_one_page_regenerates_two_keys(client, member, make_key):
    """A nonce claims one key: the same nonce sent for another key still acts."""
    user, project = member
    first, _ = make_key(project, user, "full")
    second, _ = make_key(project, user, "full")
    page = f"/projects/{project.slug}/keys"
    form = f"{page}/{first.id}"
    data = dict(form_fields(client, form, f"{form}/regenerate"), grace="0")
    assert client.post(f"{page}/{first.id}/regenerate", data=data).status_code == 200
    assert client.post(f"{page}/{second.id}/regenerate", data=data).status_code == 200


def test_resending_the_create_token_form_makes_one_token(client, member):
    data = dict(
        form_fields(client, "/tokens/new", "/tokens/new"),
        note="ci",
        scope_dashboard="view",
        expiry="30",
        custom_days="",
    )
    first = client.post("/tokens/new", data=data)
    assert first.status_code == 201, first.get_data(as_text=True)
    (secret,) = set(SECRET.findall(first.get_data(as_text=True)))
    again = client.post("/tokens/new", data=data)
    assert again.status_code == 303 and secret not in again.get_data(as_text=True)
    landing = client.get(again.location).get_data(as_text=True)
    assert "already submitted" in landing and not SECRET.search(landing)
    assert Credential.select().where(Credential.kind == "pat").count() == 1


def test_resending_the_regenerate_token_form_rotates_once(client, member, make_token):
    user, _ = member
    token, _ = make_token(user=user, days=30)
    page = f"/tokens/{token.id}"
    data = dict(
        form_fields(client, page, f"{page}/regenerate"), expiry="90", custom_days="", grace="0"
    )
    first = client.post(f"{page}/regenerate", data=data)
    assert first.status_code == 200, first.get_data(as_text=True)
    (secret,) = set(SECRET.findall(first.get_data(as_text=True)))
    digest = Secret.select(Secret.digest).where(Secret.expires_at.is_null()).scalar()
    again = client.post(f"{page}/regenerate", data=data)
    assert again.status_code == 303 and again.location.endswith(page)
    landing = client.get(again.location).get_data(as_text=True)
    assert "already submitted" in landing and secret not in landing
    assert Secret.select(Secret.digest).where(Secret.expires_at.is_null()).scalar() == digest
    assert client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 200


def test_a_fresh_form_acts_again(client, member):
    """The nonce is per page view: loading the form anew allows a second, deliberate key."""
    user, project = member
    page = f"/projects/{project.slug}/keys"
    for label in ("one", "two"):
        data = dict(form_fields(client, page, page), kind="full", label=label)
        assert client.post(page, data=data).status_code == 201
    assert Credential.select().where(Credential.kind == "full").count() == 2


def test_a_forged_nonce_cannot_grow_the_session_cookie(client, member):
    """The session remembers nonces of the shape the pages issue; a client sending huge ones
    (a few KB each) would otherwise push its cookie past the browser's 4 KB limit."""
    user, project = member
    page = f"/projects/{project.slug}/keys"
    fields = form_fields(client, page, page)
    for n in range(4):
        forged = secrets.token_urlsafe(2000)  # random: the cookie's compression can't shrink it
        data = dict(fields, kind="full", label=f"deploy {n}", once=forged)
        assert client.post(page, data=data).status_code == 201
    assert len(client.get_cookie("tokenapp_session").value) < 1500
