"""Raw-SQL writes the row triggers of migration 0012 do not see (issue 16): the auth cache
must still refuse on the next request. PostgreSQL's TRUNCATE fires no row trigger; an
sqlite3 shell (foreign keys off, so no cascade) REPLACEs a row with a delete no trigger sees."""

import threading
import time

import pytest
import test_auth_cache
from conftest import BACKEND
from conftest import assert_problem
from conftest import bearer
from test_auth_cache import VERIFY
from test_auth_cache import _warm
from test_auth_cache import counter
from test_auth_cache import raw

from tokenapp import authcache
from tokenapp import credentials
from tokenapp import db
from tokenapp import lifecycle
from tokenapp.auth import principal_for
from tokenapp.errors import Problem
from tokenapp.models import Credential

postgres = pytest.mark.skipif(BACKEND != "postgresql", reason="TRUNCATE: PostgreSQL's")
sqlite = pytest.mark.skipif(BACKEND == "postgresql", reason="REPLACE: SQLite's")
world = pytest.fixture(test_auth_cache.world.__wrapped__)


@postgres
@pytest.mark.parametrize("table", ["secret", "membership", "credential"])
def test_a_truncate_is_refused_on_the_next_request_with_the_cache_warm(client, world, table):
    _warm(client, VERIFY, world["secret"])
    before = counter()
    raw(f"TRUNCATE {table} CASCADE")
    assert_problem(client.get(VERIFY, headers=bearer(world["secret"])), 401)
    assert counter() > before


@sqlite
@pytest.mark.parametrize("table", ["user", "project"])
def test_a_replace_without_foreign_keys_is_refused_on_the_next_request(client, world, table):
    _warm(client, VERIFY, world["secret"])
    change = "is_active = 0" if table == "user" else "slug = 'renamed'"
    target = world["member"] if table == "user" else world["project"]
    before = counter()
    raw("PRAGMA foreign_keys = 0")  # as the sqlite3 shell opens a database
    try:
        raw(f'CREATE TEMP TABLE copy AS SELECT * FROM "{table}" WHERE id = ?', target.id)  # noqa: S608
        raw(f"UPDATE copy SET {change}")  # noqa: S608
        raw(f'REPLACE INTO "{table}" SELECT * FROM copy')  # noqa: S608
        raw("DROP TABLE copy")
    finally:
        raw("PRAGMA foreign_keys = 1")
    expected = 401 if table == "user" else 200
    response = client.get(VERIFY, headers=bearer(world["secret"]))
    assert response.status_code == expected
    if table == "project":
        assert response.get_json()["project"]["slug"] == "renamed"
    assert counter() > before


def test_after_a_restore_the_counter_never_meets_a_value_rows_were_kept_with(
    client, world, make_token
):
    """An online restore (sqlite3's `.restore`, a backup copied in) brings back the backup's
    counter: the bumps after it must not reach the value a later row was kept with."""
    backup = counter()  # the moment the backup was taken
    token, pat = make_token(["dashboard"], user=world["member"])  # made after it
    _warm(client, VERIFY, pat)
    # The restore: the backup's rows (no such token) and its counter.
    raw("DELETE FROM credential WHERE id = ?", Credential.id.db_value(token.id))
    raw("UPDATE auth_generation SET value = ?", backup)
    lifecycle.issue("pat", world["owner"], "after the restore", scopes=["dashboard"])
    assert_problem(client.get(VERIFY, headers=bearer(pat)), 401)


def test_with_its_counter_row_deleted_nothing_is_kept_and_a_write_brings_it_back(client, world):
    _warm(client, VERIFY, world["pat"])
    digest = credentials.parse(world["pat"]).digest
    kept = authcache.cached(digest)
    raw("DELETE FROM auth_generation")
    for _ in range(2):  # no 500, and no row kept against a counter that is not there
        assert client.get(VERIFY, headers=bearer(world["pat"])).status_code == 200
    assert authcache.cached(digest) == kept and authcache.size() == 1
    lifecycle.revoke(world["token"])  # the bump makes the row again
    assert counter() > 0
    assert_problem(client.get(VERIFY, headers=bearer(world["pat"])), 401)


def test_a_write_rolled_back_leaves_the_kept_row_in_use_and_the_next_write_counts(client, world):
    _warm(client, VERIFY, world["pat"])
    before = counter()
    with db.database.atomic() as transaction:
        lifecycle.revoke(world["token"])
        with pytest.raises(Problem):  # inside it the lookup runs as before: its own write
            principal_for(world["pat"])
        transaction.rollback()
    assert counter() == before
    assert client.get(VERIFY, headers=bearer(world["pat"])).status_code == 200
    lifecycle.revoke(Credential.get_by_id(world["token"].id))  # not the rolled-back object
    assert_problem(client.get(VERIFY, headers=bearer(world["pat"])), 401)


def test_a_deleted_token_s_refusal_is_a_hit_too(ctx, world, sql_log):
    """Kept as known, then deleted: its refusal kept as unknown must be the one used, not
    the stale known row (a miss, two statements, on every request after)."""
    principal_for(world["pat"])
    raw("DELETE FROM credential WHERE id = ?", Credential.id.db_value(world["token"].id))
    for _ in range(2):  # kept as unknown; the counter's statement prepared (PostgreSQL)
        with pytest.raises(Problem):
            principal_for(world["pat"])
    sql_log.clear()
    with pytest.raises(Problem):
        principal_for(world["pat"])
    if BACKEND == "postgresql":
        assert sql_log == [f"EXECUTE {authcache.COUNTER.name}(%s)"]
    else:
        assert len(sql_log) == 1 and "auth_generation" in sql_log[0], sql_log


def test_threads_hitting_the_cache_while_a_revocation_lands_never_accept_after_it(app, world):
    """8 threads (gunicorn gthread's) on one warm row; a request sent after the revocation
    was acknowledged is refused, whichever thread kept or read what."""
    revoked, stop, late, seen = threading.Event(), threading.Event(), [], set()

    def hammer():
        client = app.test_client()
        while not stop.is_set():
            after = revoked.is_set()
            status = client.get(VERIFY, headers=bearer(world["pat"])).status_code
            seen.add((after, status))
            if after and status != 401:
                late.append(status)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    with app.app_context():
        lifecycle.revoke(Credential.get_by_id(world["token"].id))
    revoked.set()
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join()
    assert late == []
    assert {(False, 200), (True, 401)} <= seen  # the row was in use, and then refused
