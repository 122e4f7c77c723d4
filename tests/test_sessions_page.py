"""/account/sessions (issue 14, item 6): list, this one marked, end one or all others;
an admin ends a user's sessions. Each browser is its own test client."""

import re

from conftest import AuthActions

from tokenapp.models import AuditEvent
from tokenapp.models import UserSession


def browser(app, agent: str, address: str):
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": agent, "REMOTE_ADDR": address})
    return client, AuthActions(client)


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def test_list_mark_and_end_one_then_all_others(app, make_user, ctx):
    make_user("alice")
    laptop, laptop_auth = browser(app, "Firefox/140 laptop", "192.0.2.10")
    phone, phone_auth = browser(app, "Safari phone", "198.51.100.7")
    tablet, tablet_auth = browser(app, "Chrome tablet", "203.0.113.5")
    for auth in (laptop_auth, phone_auth, tablet_auth):
        assert auth.login("alice").status_code == 302

    page = laptop.get("/account/sessions").text
    assert page.count("<tr") == 4  # the header and three sessions
    assert re.search(r"Firefox/140 laptop <span[^>]*>this session</span>", page)
    assert "198.51.100.7" in page and "Safari phone" in page
    phone_id = re.search(
        r'action="/account/sessions/(\d+)/end"[^<]*<input[^>]*>\s*'
        r"<button[^>]*>End<span[^>]*> the session from 198\.51\.100\.7",
        page,
    )
    assert phone_id
    laptop_auth.post(
        f"/account/sessions/{phone_id.group(1)}/end", {}, form_page="/account/sessions"
    )
    assert not signed_in(phone)
    assert signed_in(tablet) and signed_in(laptop)

    laptop_auth.post("/account/sessions/end-others", {}, form_page="/account/sessions")
    assert not signed_in(tablet)
    assert signed_in(laptop)
    actions = [e.action for e in AuditEvent.select()]
    assert "session.end" in actions and "session.end_others" in actions


def test_someone_elses_session_cannot_be_ended(app, make_user, ctx):
    make_user("alice")
    bob_user = make_user("bob")
    alice, alice_auth = browser(app, "A", "192.0.2.1")
    bob, bob_auth = browser(app, "B", "192.0.2.2")
    alice_auth.login("alice")
    bob_auth.login("bob")
    assert "/account/sessions/" not in bob.get("/account/sessions").text  # only this one
    (bob_row,) = UserSession.select().where(UserSession.user == bob_user.id)
    response = alice_auth.post(f"/account/sessions/{bob_row.id}/end", {}, form_page="/account")
    assert response.status_code == 404
    assert signed_in(bob)


def test_an_admin_ends_a_users_sessions(app, make_user, ctx):
    make_user("root", admin=True)
    bob = make_user("bob")
    admin, admin_auth = browser(app, "admin", "192.0.2.1")
    bob_client, bob_auth = browser(app, "bob", "192.0.2.2")
    admin_auth.login("root")
    bob_auth.login("bob")
    response = admin_auth.post(f"/admin/users/{bob.id}/sessions/end", {}, form_page="/admin/users")
    assert response.status_code == 302
    assert not signed_in(bob_client)
    assert signed_in(admin)
    event = AuditEvent.select().where(AuditEvent.action == "session.end_all").get()
    assert event.target == "bob" and event.actor_name == "root"
