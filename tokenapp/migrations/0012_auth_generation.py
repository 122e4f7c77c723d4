"""The auth change counter (issue 16): one row the database itself bumps on every change the
auth lookup could see, so a per-process cache of lookups (tokenapp/authcache.py) can ask on
each request whether anything changed, whatever wrote it (the app, the CLI, or psql).

Triggers, not application code: secret (every write), credential (insert, delete, and an
update of any column but last_used, the usage bookkeeping usage.touch writes), user (delete,
and an update of what the lookup reads: is_active, username, service_project_id), membership
(every write) and project (delete, and an update of slug).

PostgreSQL: row-level constraint triggers, DEFERRABLE INITIALLY DEFERRED, so the bump runs at
commit and the counter row's lock is the last a transaction takes (an ordinary trigger makes
two transactions that each change two credentials deadlock on it), once per transaction; an
update bumps only when a watched value changed (the function compares them).
SQLite: ordinary AFTER triggers (one writer at a time). A bump recreates a deleted row starting
from the time in µs, so the counter never comes back to a value it had.

Later migrations: on PostgreSQL, one that writes rows of these tables and then alters one of
them in the same transaction runs `SET CONSTRAINTS auth_changed IMMEDIATE` in between (pending
trigger events block ALTER TABLE and CREATE INDEX); on SQLite, one that rebuilds one of these
tables makes its triggers again (until then authcache keeps nothing, and logs a warning).
"""

from peewee import BigIntegerField
from peewee import IntegerField
from peewee import PostgresqlDatabase

from tokenapp.migrations._frozen import base

# (table, events); an event is INSERT, DELETE, UPDATE, or UPDATE OF its columns.
WATCHED = (
    ("secret", ("INSERT", "DELETE", "UPDATE")),
    (
        "credential",
        (
            "INSERT",
            "DELETE",
            "UPDATE OF id, kind, user_id, project_id, note, scopes, created_at, expires_at,"
            " revoked_at, ip_allowlist, rate_limit",
        ),
    ),
    ("user", ("DELETE", "UPDATE OF is_active, username, service_project_id")),
    ("membership", ("INSERT", "DELETE", "UPDATE")),
    ("project", ("DELETE", "UPDATE OF slug")),
)

# The row, made (or made again, when deleted) at the time in µs: beyond any value it had.
PG_INSERT = (
    "INSERT INTO auth_generation (id, value)"
    " VALUES (1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)"
)
SQLITE_INSERT = (
    "INSERT OR IGNORE INTO auth_generation (id, value)"
    " VALUES (1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))"
)

# PostgreSQL refuses to change the type of a column an UPDATE OF list or a WHEN clause names
# (tests/test_nodes.py alters username's): the function compares the row's values instead.
PG_BUMP = """
CREATE FUNCTION auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF TG_TABLE_NAME = 'credential' THEN
            IF to_jsonb(NEW) - 'last_used' = to_jsonb(OLD) - 'last_used' THEN
                RETURN NULL;
            END IF;
        ELSIF TG_TABLE_NAME = 'user' THEN
            IF (NEW.is_active, NEW.username, NEW.service_project_id)
                IS NOT DISTINCT FROM (OLD.is_active, OLD.username, OLD.service_project_id) THEN
                RETURN NULL;
            END IF;
        ELSIF TG_TABLE_NAME = 'project' THEN
            IF NEW.slug = OLD.slug THEN
                RETURN NULL;
            END IF;
        END IF;
    END IF;
    -- Once per transaction: its changes become visible together, at commit.
    IF current_setting('tokenapp.auth_changed', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('tokenapp.auth_changed', 'yes', true);
        INSERT INTO auth_generation (id, value)
        VALUES (1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
        ON CONFLICT (id) DO UPDATE SET value = auth_generation.value + 1;
    END IF;
    RETURN NULL;
END
$$
"""

SQLITE_BUMP = (SQLITE_INSERT, "UPDATE auth_generation SET value = value + 1 WHERE id = 1")


def up(migrator, db):
    class AuthGeneration(base(db)):
        id = IntegerField(primary_key=True)
        value = BigIntegerField()

    db.create_tables([AuthGeneration])
    postgres = isinstance(db, PostgresqlDatabase)
    db.execute_sql(PG_INSERT if postgres else SQLITE_INSERT)
    if postgres:
        db.execute_sql(PG_BUMP)
    for table, events in WATCHED:
        if postgres:
            kinds = " OR ".join(dict.fromkeys(event.split()[0] for event in events))
            db.execute_sql(
                f'CREATE CONSTRAINT TRIGGER auth_changed AFTER {kinds} ON "{table}"'
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION auth_changed()"
            )
            continue
        for event in events:
            name = f"auth_changed_{table}_{event.split()[0].lower()}"
            body = "".join(f"{statement}; " for statement in SQLITE_BUMP)
            db.execute_sql(f'CREATE TRIGGER {name} AFTER {event} ON "{table}" BEGIN {body}END')
