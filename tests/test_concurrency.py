"""Read-check-write under real concurrency, on SQLite and on PostgreSQL.

Each race starts its requests from threads released by one barrier, each
thread with its own test client (its own session and database connection)
calling through the real app, and repeats for TRIALS trials. The invariants:
a regenerated credential has exactly one live secret; a project always keeps
an owner; the instance always keeps an active administrator.
"""

import os
import re
import sqlite3
import threading
from functools import partial

import pytest
from conftest import BACKEND
from conftest import AuthActions
from conftest import bearer

from tokenapp import accounts
from tokenapp import db
from tokenapp import lifecycle
from tokenapp import projects
from tokenapp.clock import now
from tokenapp.models import Credential
from tokenapp.models import Membership
from tokenapp.models import Secret
from tokenapp.models import User

TRIALS = int(os.environ.get("TOKENAPP_RACE_TRIALS", "8"))
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SECRET = re.compile(r"tk[efp]_[0-9A-Za-z]{20,}")
TOKENS = "/api/v1/personal-access-tokens"


def race(calls):
    """Run each call in its own thread, all released at once; their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index):
        try:
            barrier.wait(timeout=30)
            results[index] = calls[index]()
        except Exception as exc:  # asserted by the caller
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racing request never finished"
    return results


def signed_in(app, user: User):
    client = app.test_client()
    assert AuthActions(client).login(user.username).status_code == 302
    return client


def csrf(client, page: str) -> str:
    return CSRF.search(client.get(page).get_data(as_text=True)).group(1)


def live_secrets(credential_id) -> int:
    return (
        Secret.select()
        .where(
            (Secret.credential == credential_id)
            & (Secret.expires_at.is_null() | (Secret.expires_at > now()))
        )
        .count()
    )


def statuses(results) -> list[int]:
    for result in results:
        if isinstance(result, Exception):
            raise result
    return [response.status_code for response in results]


def test_concurrent_token_regenerations_leave_one_live_secret(app, make_user, make_token):
    user = make_user()
    _, manager = make_token(("dashboard",), user=user, note="manager")
    clients = [app.test_client() for _ in range(4)]
    for trial in range(TRIALS):
        target, _ = make_token(("dashboard",), user=user, note=f"target {trial}")
        path = f"{TOKENS}/{target.id}/regenerate"
        results = race(
            [
                partial(c.post, path, json={"expiration": None}, headers=bearer(manager))
                for c in clients
            ]
        )
        assert statuses(results) == [200] * 4
        assert live_secrets(target.id) == 1, f"trial {trial}"
        verified = [
            clients[0].get("/api/v1/auth/verify", headers=bearer(r.get_json()["token"])).status_code
            for r in results
        ]
        assert sorted(verified) == [200, 401, 401, 401], f"trial {trial}"


def test_concurrent_key_regenerations_leave_one_live_secret(app, make_user, make_project):
    user = make_user()
    project = make_project(owner=user)
    page = f"/projects/{project.slug}/keys"
    clients = [signed_in(app, user) for _ in range(3)]
    tokens = [csrf(c, page) for c in clients]
    for trial in range(TRIALS):
        key, _ = lifecycle.issue("full", user, f"key {trial}", project=project)
        path = f"{page}/{key.id}/regenerate"
        results = race(
            [
                partial(c.post, path, data={"grace": "0", "csrf_token": t})
                for c, t in zip(clients, tokens, strict=True)
            ]
        )
        assert statuses(results) == [200] * 3
        assert live_secrets(key.id) == 1, f"trial {trial}"


def test_revoke_racing_regenerate_leaves_nothing_live(app, make_user, make_token):
    user = make_user()
    _, manager = make_token(("dashboard",), user=user, note="manager")
    clients = [app.test_client() for _ in range(3)]
    for trial in range(TRIALS):
        target, _ = make_token(("dashboard",), user=user, note=f"target {trial}")
        path = f"{TOKENS}/{target.id}"
        calls = [partial(clients[0].delete, path, headers=bearer(manager))] + [
            partial(
                c.post, f"{path}/regenerate", json={"expiration": None}, headers=bearer(manager)
            )
            for c in clients[1:]
        ]
        results = race(calls)
        codes = statuses(results)
        assert codes[0] == 204 and set(codes[1:]) <= {200, 404, 409}, codes
        assert Credential.get_by_id(target.id).revoked_at is not None
        # Every secret a regenerate answered with is refused: the revoke ended them all.
        for result in results[1:]:
            if result.status_code == 200:
                secret = result.get_json()["token"]
                assert (
                    clients[0].get("/api/v1/auth/verify", headers=bearer(secret)).status_code == 401
                )
        assert (
            not Secret.select()
            .where((Secret.credential == target.id) & Secret.clear.is_null(False))
            .exists()
        )


def owners(project) -> int:
    return (
        Membership.select()
        .where((Membership.project == project) & (Membership.role == "owner"))
        .count()
    )


def _pat(user) -> str:
    return lifecycle.issue("pat", user, "members", scopes=["company"])[1]


def test_two_owners_demoting_each_other_keep_an_owner(app, make_user, make_project):
    clients = [app.test_client() for _ in range(2)]
    for trial in range(TRIALS):
        alice, bob = make_user(), make_user()
        project = make_project(owner=alice, members=[(bob, "owner")])
        pats = [_pat(alice), _pat(bob)]
        others = [bob, alice]
        results = race(
            [
                partial(
                    c.put,
                    f"/api/v1/projects/{project.slug}/users/{o.username}",
                    json={"role": "editor"},
                    headers=bearer(p),
                )
                for c, p, o in zip(clients, pats, others, strict=True)
            ]
        )
        codes = statuses(results)
        assert owners(project) == 1, f"trial {trial}: {codes}"
        # The loser is refused by the last-owner rule (409), or by its role if it ran later (403).
        assert sorted(codes)[0] == 200 and sorted(codes)[1] in (403, 409), codes


def test_the_last_two_owners_removing_each_other_keep_an_owner(app, make_user, make_project):
    for trial in range(TRIALS):
        alice, bob = make_user(), make_user()
        project = make_project(owner=alice, members=[(bob, "owner")])
        page = f"/projects/{project.slug}/members"
        ids = {m.user_id: m.id for m in Membership.select().where(Membership.project == project)}
        clients = [signed_in(app, alice), signed_in(app, bob)]
        tokens = [csrf(c, page) for c in clients]
        results = race(
            [
                partial(c.post, f"{page}/{ids[o.id]}/remove", data={"csrf_token": t})
                for c, t, o in zip(clients, tokens, [bob, alice], strict=True)
            ]
        )
        statuses(results)
        assert owners(project) == 1, f"trial {trial}"


def test_a_stale_member_cannot_be_removed_once_it_is_the_last_owner(make_user, make_project):
    # Read before the lock, changed by another request, then acted on: the role is read again.
    alice, bob = make_user(), make_user()
    project = make_project(owner=alice, members=[(bob, "viewer")])
    stale = projects.membership_of(project, bob.username)
    projects.change_role(projects.membership_of(project, bob.username), "owner")
    projects.change_role(projects.membership_of(project, alice.username), "viewer")
    with pytest.raises(projects.ProjectConflict):
        projects.remove_member(stale)
    assert owners(project) == 1


def test_a_demoted_owner_can_no_longer_change_members(make_user, make_project):
    alice, bob, carol = make_user(), make_user(), make_user()
    project = make_project(owner=alice, members=[(bob, "owner"), (carol, "owner")])
    bobs_view = projects.membership_of(project, carol.username)  # bob loaded it as an owner
    projects.change_role(projects.membership_of(project, bob.username), "editor", actor=alice)
    with pytest.raises(projects.ProjectConflict):
        projects.change_role(bobs_view, "viewer", actor=bob)
    assert projects.membership_of(project, carol.username).role == "owner"


@pytest.mark.parametrize("what", ["active", "admin"])
def test_two_admins_demoting_each_other_keep_an_active_admin(app, make_user, what):
    for trial in range(TRIALS):
        admins = [make_user(admin=True), make_user(admin=True)]
        clients = [signed_in(app, user) for user in admins]
        tokens = [csrf(c, "/admin/users") for c in clients]
        results = race(
            [
                partial(c.post, f"/admin/users/{o.id}/{what}", data={"value": "0", "csrf_token": t})
                for c, t, o in zip(clients, tokens, admins[::-1], strict=True)
            ]
        )
        statuses(results)
        left = User.select().where(
            User.is_admin & User.is_active & User.id.in_([u.id for u in admins])
        )
        assert left.count() == 1, f"trial {trial}"
        # The next trial's pair must be the only admins again.
        User.update(is_admin=False).where(User.id.in_([u.id for u in admins])).execute()


def test_a_stale_user_is_read_again_before_the_last_admin_check(make_user):
    root = make_user(admin=True)
    stale = User.get_by_id(make_user().id)  # loaded as a plain user
    accounts.set_admin(User.get_by_id(stale.id), True)
    accounts.set_admin(User.get_by_id(root.id), False)
    with pytest.raises(accounts.AccountError):
        accounts.set_active(stale, False)
    assert User.select().where(User.is_admin & User.is_active).count() == 1


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's own locking")
def test_sqlite_transactions_hold_the_write_lock_from_their_start(app, ctx, make_user):
    # What db.locked relies on there: a transaction that has only read already
    # keeps every other writer out (BEGIN IMMEDIATE), so its check stays true.
    user = make_user()
    path = db.database.database
    with db.database.atomic():
        assert db.locked(User, user.id).id == user.id
        other = sqlite3.connect(path, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_a_lock_outside_a_transaction_is_a_programming_error(ctx, make_user):
    with pytest.raises(RuntimeError, match="transaction"):
        db.locked(User, make_user().id)


def test_an_administrator_still_appoints_an_owner_without_being_a_member(make_user, make_project):
    root, bob = make_user(admin=True), make_user()
    project = make_project()
    projects.add_member(project, bob, "viewer", actor=root)
    projects.change_role(projects.membership_of(project, bob.username), "owner", actor=root)
    assert owners(project) == 2
