"""Raw-SQL writes and restores migration 0012's counter missed (issue 16).

PostgreSQL: TRUNCATE fires no row trigger, so `TRUNCATE secret` (or membership, credential, …)
left every kept lookup in use: a statement-level AFTER TRUNCATE trigger on each watched table
runs the same auth_changed() (its UPDATE branch does not apply; once per transaction as before).
SQLite: a REPLACE that deletes the conflicting row fires no delete trigger unless the
connection set recursive_triggers, and with foreign keys off (the sqlite3 shell's default) no
cascade either: `REPLACE INTO "user"` with is_active = 0, or into project with another slug,
changed nothing the counter saw. user and project bump on INSERT too (the others already do).

Both: a bump is max(value + 1, the time in µs), no longer value + 1. An online restore (sqlite3's
`.restore`, a copy written into the live file) brings back the backup's counter, and + 1 from
there walked again through the values rows had been kept with since the backup (a token made
after it, gone with the restore, was accepted again); from the time it comes out beyond them.
"""

import importlib

from peewee import PostgresqlDatabase

GENERATION = importlib.import_module("tokenapp.migrations.0012_auth_generation")

SQLITE_BUMP = (
    GENERATION.SQLITE_INSERT,
    "UPDATE auth_generation SET value = max(value + 1,"
    " CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)) WHERE id = 1",
)
PG_BUMP = GENERATION.PG_BUMP.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(
    "SET value = auth_generation.value + 1",
    "SET value = GREATEST(auth_generation.value + 1, EXCLUDED.value)",
)


def up(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql(PG_BUMP)
        for table, _ in GENERATION.WATCHED:
            db.execute_sql(
                f'CREATE TRIGGER auth_changed_truncate AFTER TRUNCATE ON "{table}"'
                " FOR EACH STATEMENT EXECUTE FUNCTION auth_changed()"
            )
        return
    body = "".join(f"{statement}; " for statement in SQLITE_BUMP)
    watched = [*GENERATION.WATCHED, ("user", ("INSERT",)), ("project", ("INSERT",))]
    for table, events in watched:
        for event in events:
            name = f"auth_changed_{table}_{event.split()[0].lower()}"
            db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
            db.execute_sql(f'CREATE TRIGGER {name} AFTER {event} ON "{table}" BEGIN {body}END')
