"""Rate limits and IP allowlists set on the pages: a PAT's page and the key page."""

import pytest
from conftest import assert_problem
from conftest import bearer
from test_web_keys import html
from test_web_keys import post_form

from tokenapp import projects
from tokenapp.models import AuditEvent
from tokenapp.models import Credential

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def owner(app, clock, make_user, make_project, auth):
    app.config["CLOCK"] = clock  # every request below falls in one minute
    user = make_user()
    assert auth.login(user.username).status_code in (302, 303)
    return user, make_project(owner=user)


def _statuses(client, secret, times):
    return [client.get(VERIFY, headers=bearer(secret)).status_code for _ in range(times)]


def test_a_token_gets_a_rate_limit_and_an_allowlist_on_its_page(client, owner, make_token):
    user, _ = owner
    credential, secret = make_token(user=user)
    page = f"/tokens/{credential.id}"
    assert "no rate limit" in html(client.get(page))
    response = post_form(
        client,
        page,
        f"{page}/limits",
        {"rate_limit": "2", "ip_allowlist": "127.0.0.0/8\n 10.20.0.0/16 "},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{page}#limits")
    shown = html(client.get(page))
    assert "2 requests per minute" in shown
    assert "<code>127.0.0.0/8</code>, <code>10.20.0.0/16</code>" in shown
    assert '<h2 id="limits">' in shown and 'aria-labelledby="limits"' in shown
    stored = Credential.get_by_id(credential.id)
    assert (stored.rate_limit, stored.ip_allowlist) == (2, ["127.0.0.0/8", "10.20.0.0/16"])
    assert _statuses(client, secret, 3) == [200, 200, 429]
    event = AuditEvent.select().where(AuditEvent.action == "credential.update").get()
    assert event.detail == {"rate_limit": 2, "ip_allowlist": ["127.0.0.0/8", "10.20.0.0/16"]}


def test_an_allowlist_without_the_callers_network_refuses_it(client, owner, make_token):
    user, _ = owner
    credential, secret = make_token(user=user)
    page = f"/tokens/{credential.id}"
    post_form(client, page, f"{page}/limits", {"rate_limit": "", "ip_allowlist": "10.0.0.0/8"})
    body = assert_problem(client.get(VERIFY, headers=bearer(secret)), 403)
    assert body["type"].endswith("address-not-allowed")
    post_form(client, page, f"{page}/limits", {"rate_limit": "", "ip_allowlist": ""})
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    assert Credential.get_by_id(credential.id).ip_allowlist is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rate_limit": "0"}, "Enter a whole number from 1 to 100,000"),
        ({"rate_limit": "100001"}, "Enter a whole number from 1 to 100,000"),
        ({"rate_limit": "lots"}, "Not a valid integer value"),
        ({"ip_allowlist": "10.0.0.0/33"}, "&#39;10.0.0.0/33&#39; is not an IP network"),
        ({"ip_allowlist": "intranet"}, "&#39;intranet&#39; is not an IP network"),
    ],
)
def test_bad_limits_are_refused_with_the_reason_and_change_nothing(
    client, owner, make_token, fields, message
):
    user, _ = owner
    credential, secret = make_token(user=user)
    page = f"/tokens/{credential.id}"
    response = post_form(
        client, page, f"{page}/limits", {"rate_limit": "5", "ip_allowlist": "", **fields}
    )
    assert response.status_code == 422
    assert message in html(response)
    assert 'aria-invalid="true"' in html(response)
    stored = Credential.get_by_id(credential.id)
    assert (stored.rate_limit, stored.ip_allowlist) == (None, None)


def test_a_deleted_token_takes_no_limits(client, owner, make_token):
    user, _ = owner
    credential, _ = make_token(user=user)
    page = f"/tokens/{credential.id}"
    post_form(client, page, f"{page}/delete", {})
    assert post_form(client, "/tokens", f"{page}/limits", {"rate_limit": "5"}).status_code == 409


def test_a_project_key_gets_limits_on_its_page(client, owner, make_key):
    user, project = owner
    credential, secret = make_key(project, user, "export", label="deploy")
    keys = f"/projects/{project.slug}/keys"
    page = f"{keys}/{credential.id}"
    assert "no rate limit" in html(client.get(keys))
    response = post_form(
        client,
        page,
        f"{page}/limits",
        {"rate_limit": "1", "ip_allowlist": "127.0.0.1"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"{page}#limits")
    shown = html(client.get(page))
    assert "1 request per minute" in shown and "<code>127.0.0.1/32</code>" in shown
    assert '<h2 id="limits">' in shown
    assert 'aria-labelledby="limits"' in shown
    assert "1 request per minute" in html(client.get(keys))  # the key page's summary
    assert _statuses(client, secret, 2) == [200, 429]


def test_bad_key_limits_are_shown_next_to_that_key(client, owner, make_key):
    user, project = owner
    first, _ = make_key(project, user, "export", label="first")
    second, _ = make_key(project, user, "full", label="second")
    page = f"/projects/{project.slug}/keys"
    response = post_form(client, page, f"{page}/{second.id}/limits", {"rate_limit": "-3"})
    assert response.status_code == 422
    text = html(response)
    assert f'id="rate-limit-{second.id}-error"' in text
    assert f'id="rate-limit-{first.id}-error"' not in text
    assert Credential.get_by_id(second.id).rate_limit is None


def test_someone_elses_key_keeps_its_limits(client, owner, make_user, make_key, auth):
    user, project = owner
    other = make_user()
    projects.add_member(project, other, "editor")
    theirs, _ = make_key(project, other, "export")
    page = f"/projects/{project.slug}/keys"
    # The owner sees the key but it acts as its member: only they set its limits.
    response = post_form(client, page, f"{page}/{theirs.id}/limits", {"rate_limit": "1"})
    assert response.status_code == 403
    mine, _ = make_key(project, user, "export")
    auth.logout()
    auth.login(other.username)
    response = post_form(client, page, f"{page}/{mine.id}/limits", {"rate_limit": "1"})
    assert response.status_code == 404  # an editor does not see the owner's keys
    assert Credential.get_by_id(theirs.id).rate_limit is None
    assert Credential.get_by_id(mine.id).rate_limit is None
