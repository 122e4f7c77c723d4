"""The audit log: recorded events, the admin and owner pages, and `tokenapp audit export`."""

import json

import pytest
from conftest import PASSWORD
from conftest import bearer

from tokenapp import audit
from tokenapp import lifecycle
from tokenapp import projects
from tokenapp.models import AuditEvent


@pytest.fixture
def timed(ctx, clock):
    ctx.config["CLOCK"] = clock
    return clock


@pytest.fixture
def admin(make_user):
    return make_user("root", admin=True)


def _page(client, path, **params):
    """The response and the events table (the filter's choices name every action)."""
    response = client.get(path, query_string=params)
    page = response.get_data(as_text=True)
    return response, page.split("<tbody>")[1] if "<tbody>" in page else ""


def test_login_success_and_failure_are_recorded_with_the_address(client, auth, make_user):
    make_user("alice")
    auth.login("alice", "wrong password!")
    auth.login("nobody", "wrong password!")
    auth.login("alice")
    events = list(
        AuditEvent.select().where(AuditEvent.action.startswith("login.")).order_by(AuditEvent.id)
    )
    assert [(e.action, e.actor_name) for e in events] == [
        ("login.failure", "alice"),
        ("login.failure", "nobody"),
        ("login.success", "alice"),
    ]
    assert {e.address for e in events} == {"127.0.0.1"}
    assert events[1].actor_id is None


def test_credential_events_name_their_actor_even_when_given_only_an_id(ctx, make_user, make_token):
    user = make_user("alice")
    credential, _ = make_token(user=user)
    lifecycle.revoke(credential)  # no actor: the credential's user id is recorded
    event = AuditEvent.get(AuditEvent.action == "credential.revoke")
    assert (event.actor_id, event.actor_name) == (user.id, "alice")


def test_admin_sees_every_event_newest_first(client, auth, admin, make_project, make_token):
    make_project("billing")
    make_token()
    auth.login("root")
    response, page = _page(client, "/audit")
    assert response.status_code == 200
    assert "project.create" in page and "credential.create" in page and "login.success" in page
    assert (
        page.index("login.success") < page.index("credential.create") < page.index("project.create")
    )


def test_entries_read_as_words_with_credential_labels(
    client, auth, admin, make_project, make_user, make_key
):
    alice = make_user("alice")
    project = make_project("billing", owner=alice)
    key, _ = make_key(project, alice, "full", label="deploy box")
    auth.login("root")
    _, page = _page(client, "/audit", action="credential.create")
    assert "“deploy box” (full key)" in page
    assert f'href="/projects/billing/keys/{key.id}"' in page
    assert "kind: full · note: deploy box · scopes: none" in page
    assert "{&#34;" not in page and '{"kind"' not in page  # no raw JSON


def test_the_audit_link_is_shown_to_admins_only(client, auth, admin, make_user):
    make_user("bob")
    auth.login("root")
    assert 'href="/audit"' in client.get("/").get_data(as_text=True)
    auth.logout()
    auth.login("bob")
    assert 'href="/audit"' not in client.get("/").get_data(as_text=True)


def test_non_admins_may_not_see_the_whole_log(client, auth, make_user):
    make_user("bob")
    assert client.get("/audit").status_code == 302  # to the login page
    auth.login("bob")
    assert client.get("/audit").status_code == 403


def test_filters_by_action_actor_project_and_days(client, auth, admin, timed, make_user):
    alice = make_user("alice")
    projects.create("billing", None, alice)  # 2030-01-01
    timed.advance(days=2)
    projects.create("search", None, alice)  # 2030-01-03
    lifecycle.issue("pat", admin, "root's", scopes=["dashboard"])
    auth.login("root")

    def targets(**params):
        _, page = _page(client, "/audit", **params)
        return [
            name for name in ("billing", "search", "root&#39;s", "login.success") if name in page
        ]

    assert targets(action="project.create") == ["billing", "search"]
    assert targets(actor="alice", action="project.create") == ["billing", "search"]
    assert targets(actor="ALICE ", project="search") == ["search"]
    assert targets(action="project.create", since="2030-01-02") == ["search"]
    assert targets(action="project.create", until="2030-01-01") == ["billing"]
    assert targets(action="project.create", since="2030-01-04") == []
    _, page = _page(client, "/audit", actor="root", action="credential.create")
    assert "credential.create" in page and "project.create" not in page


def test_a_bad_date_is_a_400_that_says_the_format(client, auth, admin):
    auth.login("root")
    response = client.get("/audit", query_string={"since": "1/2/2030"})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.get_data(as_text=True)


def test_pages_of_fifty_newest_first(client, auth, admin, timed):
    for number in range(60):
        timed.advance(seconds=1)
        audit.record("test.event", admin, target=f"event-{number:02d}")
    auth.login("root")
    _, first = _page(client, "/audit", action="test.event")
    assert "event-59" in first and "event-10" in first and "event-09" not in first
    assert first.index("event-59") < first.index("event-10")
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert "action=test.event" in first.split('rel="next"')[1].split(">")[0]
    _, second = _page(client, "/audit", action="test.event", page=2)
    assert "event-09" in second and "event-00" in second and "event-10" not in second
    assert 'rel="next"' not in second and 'rel="prev"' in second


def test_owner_sees_only_their_projects_events(client, auth, make_user):
    olive, eddie = make_user("olive"), make_user("eddie")
    billing = projects.create("billing", None, olive)
    projects.add_member(billing, eddie, "editor", actor=olive)
    projects.create("search", None, eddie)
    auth.login("olive")
    response, page = _page(client, "/projects/billing/audit")
    assert response.status_code == 200
    assert "member.add" in page and "eddie" in page
    assert "search" not in page
    assert client.get("/projects/search/audit").status_code == 404


def test_editors_and_viewers_may_not_see_a_projects_log(client, auth, make_user):
    olive, eddie = make_user("olive"), make_user("eddie")
    projects.add_member(projects.create("billing", None, olive), eddie, "editor")
    auth.login("eddie")
    assert client.get("/projects/billing/audit").status_code == 403


def test_admin_may_see_any_projects_log(client, auth, admin, make_user):
    projects.create("billing", None, make_user("olive"))
    auth.login("root")
    assert client.get("/projects/billing/audit").status_code == 200
    assert client.get("/projects/nope/audit").status_code == 404


def test_the_log_has_no_path_that_changes_it(app, client, auth, admin):
    auth.login("root")
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule
    assert client.post("/audit").status_code in (400, 405)  # CSRF or method: never a change


def test_untrusted_text_is_escaped_on_the_page(client, auth, admin):
    auth.login("<script>x</script>", PASSWORD)
    auth.login("root")
    _, page = _page(client, "/audit", action="login.failure")
    assert "<script>x" not in page and "&lt;script&gt;x" in page


def test_api_changes_are_recorded(client, ctx, make_token):
    credential, secret = make_token(["dashboard"])
    client.patch(
        f"/api/v1/personal-access-tokens/{credential.id}",
        json={"note": "renamed", "scopes": ["dashboard:view"]},
        headers=bearer(secret),
    )
    event = AuditEvent.get(AuditEvent.action == "credential.update")
    assert event.detail == {"note": "renamed", "scopes": ["dashboard:view"]}
    assert event.address == "127.0.0.1"


def test_cli_exports_json_lines_oldest_first(runner, timed, make_user):
    alice = make_user("alice")
    projects.create("billing", None, alice)
    timed.advance(days=3)
    projects.create("search", None, alice)
    result = runner.invoke(args=["audit", "export"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["action"] for line in lines] == ["user.create", "project.create", "project.create"]
    assert lines[1] == {
        "id": lines[1]["id"],
        "at": "2030-01-01T12:00:00Z",
        "actor": "alice",
        "action": "project.create",
        "project": "billing",
        "target": "billing",
        "address": None,
        "detail": lines[1]["detail"],
    }
    since = runner.invoke(args=["audit", "export", "--since", "2030-01-02"])
    assert [json.loads(line)["project"] for line in since.stdout.splitlines()] == ["search"]
    only = runner.invoke(args=["audit", "export", "--project", "billing"])
    assert [json.loads(line)["project"] for line in only.stdout.splitlines()] == ["billing"]
    bad = runner.invoke(args=["audit", "export", "--since", "yesterday"])
    assert bad.exit_code == 2


def test_the_log_downloads_as_json_lines_with_its_filters(client, auth, admin, make_project):
    make_project("billing")
    make_project("other")
    auth.login("root")
    page = client.get("/audit?action=project.create").get_data(as_text=True)
    assert 'href="/audit/export.jsonl?action=project.create"' in page
    response = client.get("/audit/export.jsonl?action=project.create")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [line["project"] for line in lines] == ["billing", "other"]  # oldest first
    only = client.get("/projects/billing/audit/export.jsonl").get_data(as_text=True)
    assert {json.loads(line)["project"] for line in only.splitlines()} == {"billing"}
    assert client.get("/audit/export.jsonl?since=2030-02-31").status_code == 400


def test_only_admins_and_owners_download(client, auth, make_user, make_project):
    bob = make_user("bob")
    make_project("billing", owner=make_user("alice"), members=[(bob, "editor")])
    auth.login("bob")
    assert client.get("/audit/export.jsonl").status_code == 403
    assert client.get("/projects/billing/audit/export.jsonl").status_code == 403


def test_a_credential_revoked_twice_is_stopped_and_audited_once(ctx, make_user, make_token):
    # Two revocations at the same moment (two workers, a report and a DELETE) each lock the
    # row; the second finds it revoked and must neither move the time nor log it again.
    alice = make_user("alice")
    token, _ = make_token(user=alice)
    assert lifecycle.revoke(token, actor=alice) is True
    first = token.revoked_at
    stale = type(token).get_by_id(token.id)
    stale.revoked_at = None  # as read by the other request before the first committed
    assert lifecycle.revoke(stale, actor=alice) is False
    assert stale.revoked_at == first
    assert AuditEvent.select().where(AuditEvent.action == "credential.revoke").count() == 1
