"""The auth lookup's per-process cache (tokenapp/authcache.py, issue 16): a row is reused only
while the database's change counter (migration 0012's triggers) stands, so every auth-relevant
write, whoever makes it (the app, the CLI, psql), shows on the next request."""

import datetime
import threading

import pytest
from conftest import BACKEND
from conftest import assert_problem
from conftest import bearer

from tokenapp import accounts
from tokenapp import authcache
from tokenapp import credentials
from tokenapp import db
from tokenapp import lifecycle
from tokenapp import projects
from tokenapp import usage
from tokenapp.auth import principal_for
from tokenapp.models import Credential
from tokenapp.models import Document
from tokenapp.models import Membership

VERIFY = "/api/v1/auth/verify"
CHECK = "/api/v1/auth/check"


def counter() -> int:
    return db.database.execute_sql("SELECT value FROM auth_generation WHERE id = 1").fetchone()[0]


def raw(sql: str, *params) -> None:
    """A write as psql would make it: SQL, none of the app's functions."""
    db.database.execute_sql(sql.replace("?", db.database.param), params)


@pytest.fixture
def world(ctx, make_user, make_project, make_token, make_key):
    owner, member = make_user("olive"), make_user("mark")
    project = make_project("alpha", owner=owner, members=[(member, "editor")])
    token, pat = make_token(["dashboard"], user=member)
    key, secret = make_key(project, member, "full")
    membership = Membership.get(Membership.project == project, Membership.user == member)
    return {
        "owner": owner,
        "member": member,
        "project": project,
        "token": token,
        "pat": pat,
        "key": key,
        "secret": secret,
        "membership": membership,
    }


AUTH_WRITES = {
    "issue": lambda w: lifecycle.issue("pat", w["owner"], "n", scopes=["dashboard"]),
    "revoke": lambda w: lifecycle.revoke(w["token"]),
    "regenerate": lambda w: lifecycle.regenerate(w["token"]),
    "psql revoke": lambda w: raw("UPDATE credential SET revoked_at = ?", "2030-01-01 00:00:00"),
    "psql scopes": lambda w: raw("UPDATE credential SET scopes = ?", '["other"]'),
    "psql secret delete": lambda w: raw("DELETE FROM secret"),
    "deactivate": lambda w: accounts.set_active(w["member"], False),
    "psql rename": lambda w: raw(
        'UPDATE "user" SET username = ? WHERE id = ?', "x", w["member"].id
    ),
    "role": lambda w: projects.change_role(w["membership"], "viewer"),
    "remove member": lambda w: projects.remove_member(w["membership"]),
    "psql add member": lambda w: raw(
        "INSERT INTO membership (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)",
        projects.create("beta", None, w["owner"]).id,
        w["member"].id,
        "viewer",
        "2030-01-01 00:00:00",
    ),
    "psql slug": lambda w: raw("UPDATE project SET slug = ?", "renamed"),
    "psql delete user": lambda w: raw('DELETE FROM "user" WHERE id = ?', w["member"].id),
}


@pytest.mark.parametrize("write", AUTH_WRITES.values(), ids=AUTH_WRITES.keys())
def test_every_auth_relevant_write_bumps_the_counter(world, write):
    before = counter()
    write(world)
    assert counter() > before


BOOKKEEPING = {
    "last_used": lambda w: usage.touch(principal_for(w["pat"])),
    "usage flush": lambda w: usage.flush(),
    "password": lambda w: accounts.set_password(w["owner"], "another long password"),
    "webhook": lambda w: accounts.set_webhook_url(w["owner"], None),
    "document": lambda w: Document.create(project=w["project"], collection="c", body={}),
    "psql admin": lambda w: raw('UPDATE "user" SET is_admin = ?', True),
    "psql project name": lambda w: raw("UPDATE project SET name = ?", "Renamed"),
}


@pytest.mark.parametrize("write", BOOKKEEPING.values(), ids=BOOKKEEPING.keys())
def test_bookkeeping_and_other_writes_leave_the_counter(world, write, app):
    app.config["USAGE_COUNTS"] = True
    usage.touch(principal_for(world["secret"]))  # something pending for the flush
    before = counter()
    write(world)
    assert counter() == before


def _path(app, fast: bool) -> None:
    if not fast:  # FAST_PATH is read at create_app: unwrap to ask Flask
        app.wsgi_app = getattr(app.wsgi_app, "inner", app.wsgi_app)


def _warm(client, path, secret, status=200, **query) -> None:
    for _ in range(2):
        assert client.get(path, query_string=query, headers=bearer(secret)).status_code == status
    slug = query.get("project")
    assert authcache.cached(credentials.parse(secret).digest, slug) is not None


CHANGES = {
    "psql revoke": lambda w: raw(
        "UPDATE credential SET revoked_at = ? WHERE id = ?",
        "2030-01-01 00:00:00",
        Credential.id.db_value(w["token"].id),
    ),
    "revoke": lambda w: lifecycle.revoke(w["token"]),
    "regenerate": lambda w: lifecycle.regenerate(w["token"]),
    "deactivate": lambda w: accounts.set_active(w["member"], False),
    "remove member": lambda w: projects.remove_member(w["membership"]),
}


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "Flask path"])
@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_change_is_refused_on_the_next_request_with_the_cache_warm(
    app, client, world, fast, change
):
    _path(app, fast)
    secret = world["secret"] if change is CHANGES["remove member"] else world["pat"]
    _warm(client, VERIFY, secret)
    change(world)
    assert_problem(client.get(VERIFY, headers=bearer(secret)), 401)


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "Flask path"])
def test_check_follows_a_role_change_and_removal_with_the_cache_warm(app, client, world, fast):
    _path(app, fast)
    ask = {"query_string": {"project": "alpha", "scope": "dashboard"}}
    ask["headers"] = {**bearer(world["pat"]), "X-Original-Method": "POST"}
    _warm(client, CHECK, world["pat"], 204, project="alpha", scope="dashboard")
    projects.change_role(world["membership"], "viewer")
    assert assert_problem(client.get(CHECK, **ask), 403)["refused_by"] == "role"
    projects.change_role(world["membership"], "editor")
    assert client.get(CHECK, **ask).status_code == 204
    projects.remove_member(world["membership"])
    assert assert_problem(client.get(CHECK, **ask), 403)["refused_by"] == "project"


def test_a_hit_reads_only_the_counter(ctx, world, sql_log):
    principal_for(world["pat"])
    principal_for(world["pat"])  # the counter's statement prepared (PostgreSQL)
    sql_log.clear()
    assert principal_for(world["pat"]).username == "mark"
    if BACKEND == "postgresql":
        assert sql_log == [f"EXECUTE {authcache.COUNTER.name}(%s)"]
    else:
        assert len(sql_log) == 1 and "auth_generation" in sql_log[0], sql_log
        assert "secret" not in sql_log[0]


def test_an_unknown_token_is_cached_until_a_secret_is_added(ctx, world, make_user):
    unknown = credentials.mint("pat")
    for _ in range(2):
        with pytest.raises(Exception, match="unknown"):
            principal_for(unknown)
    digest = credentials.parse(unknown).digest
    assert authcache.cached(digest) == (counter(), None)
    lifecycle.issue("pat", make_user(), "another", scopes=[])
    assert authcache.cached(digest)[0] < counter()  # the next request reads again


def test_a_flood_of_random_tokens_keeps_the_cache_bounded(ctx, world):
    principal_for(world["pat"])
    for _ in range(10_000):
        with pytest.raises(Exception, match="unknown"):
            principal_for(credentials.mint("pat"))
    assert authcache.size() <= authcache.SIZE + authcache.UNKNOWN_SIZE
    # Unknown tokens have their own bound: they do not push out the tokens in use.
    assert authcache.cached(credentials.parse(world["pat"]).digest) is not None


def test_expiry_is_judged_on_each_request_not_cached(app, client, world, clock):
    token, secret = lifecycle.issue(
        "pat", world["member"], "soon", scopes=["dashboard"], expires_at=lifecycle.expiry(1)
    )
    app.config["CLOCK"] = clock
    clock.now = token.expires_at - datetime.timedelta(seconds=5)
    _warm(client, VERIFY, secret)
    clock.advance(seconds=10)
    assert_problem(client.get(VERIFY, headers=bearer(secret)), 401)


def test_first_use_rotation_ends_the_grace_when_the_row_comes_from_the_cache(client, world):
    new = lifecycle.regenerate(world["token"], grace_days=2, until_first_use=True)
    old = world["pat"]
    _warm(client, VERIFY, old)
    assert client.get(VERIFY, headers=bearer(new)).status_code == 200
    assert_problem(client.get(VERIFY, headers=bearer(old)), 401)
    assert client.get(VERIFY, headers=bearer(new)).status_code == 200


@pytest.mark.parametrize("app_overrides", [{"AUTH_CACHE": False}])
def test_the_setting_switches_it_off(ctx, world, app_overrides):
    principal_for(world["pat"])
    assert authcache.size() == 0


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's prepared statements")
def test_the_statements_are_prepared_again_after_discard_all(ctx, client, world):
    _warm(client, VERIFY, world["pat"])
    db.database.connection().cursor().execute("DISCARD ALL")
    statuses = [client.get(VERIFY, headers=bearer(s)).status_code for s in [world["pat"]] * 2]
    assert statuses == [200, 200]
    lifecycle.revoke(world["token"])
    db.database.connection().cursor().execute("DISCARD ALL")
    assert_problem(client.get(VERIFY, headers=bearer(world["pat"])), 401)


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's row locks")
def test_two_transactions_changing_two_credentials_each_do_not_deadlock(world, database_url):
    """Each transaction locks its first credential, then wants the other's: with a bump at
    each write (an ordinary trigger) the second waits for the counter row the first holds
    while holding the row the first wants. Deferred to commit, the bump comes last."""
    import psycopg2

    ids = [str(world["token"].id), str(world["key"].id)]
    conns = [psycopg2.connect(database_url) for _ in ids]
    update = "UPDATE credential SET note = %s WHERE id = %s"
    errors, first_done = [], threading.Event()

    def run(number: int) -> None:
        conn = conns[number]
        try:
            with conn.cursor() as cursor:
                if number == 0:
                    cursor.execute(update, ("first", ids[0]))
                    first_done.set()
                    threading.Event().wait(0.5)  # the other holds its row now
                    cursor.execute(update, ("second", ids[1]))  # waits for its commit
                else:
                    first_done.wait(timeout=10)
                    cursor.execute(update, ("first", ids[1]))
                    threading.Event().wait(1.0)
            conn.commit()
        except Exception as exc:  # asserted below
            errors.append(exc)
            conn.rollback()

    threads = [threading.Thread(target=run, args=(number,)) for number in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for conn in conns:
        conn.close()
    assert errors == []


def test_without_its_triggers_the_cache_keeps_nothing(ctx, world, caplog):
    """A table SQLite's migrator rebuilds loses its triggers; a disabled one bumps nothing."""
    if db.is_sqlite():  # this test's own file
        db.database.execute_sql("DROP TRIGGER auth_changed_credential_update")
    else:
        db.database.execute_sql("ALTER TABLE credential DISABLE TRIGGER auth_changed")
    try:
        principal_for(world["pat"])
        principal_for(world["pat"])
        assert authcache.size() == 0
        assert "auth cache off: 14 of the 15" in caplog.text or "9 of the 10" in caplog.text
    finally:
        if not db.is_sqlite():
            db.database.execute_sql("ALTER TABLE credential ENABLE TRIGGER auth_changed")
