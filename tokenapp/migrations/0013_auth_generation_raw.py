"""Raw-SQL writes migration 0012's row triggers miss (issue 16): the auth counter bumps on them too.

PostgreSQL: TRUNCATE fires no row trigger, so `TRUNCATE secret` (or membership, credential, …)
left every kept lookup in use: a statement-level AFTER TRUNCATE trigger on each watched table
runs the same auth_changed() (its UPDATE branch does not apply; once per transaction as before).
SQLite: a REPLACE that deletes the conflicting row fires no delete trigger unless the
connection set recursive_triggers, and with foreign keys off (the sqlite3 shell's default) no
cascade either: `REPLACE INTO "user"` with is_active = 0, or into project with another slug,
changed nothing the counter saw. user and project bump on INSERT too (the others already do).
"""

import importlib

from peewee import PostgresqlDatabase

GENERATION = importlib.import_module("tokenapp.migrations.0012_auth_generation")


def up(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        for table, _ in GENERATION.WATCHED:
            db.execute_sql(
                f'CREATE TRIGGER auth_changed_truncate AFTER TRUNCATE ON "{table}"'
                " FOR EACH STATEMENT EXECUTE FUNCTION auth_changed()"
            )
        return
    body = "".join(f"{statement}; " for statement in GENERATION.SQLITE_BUMP)
    for table in ("user", "project"):
        db.execute_sql(
            f'CREATE TRIGGER auth_changed_{table}_insert AFTER INSERT ON "{table}" BEGIN {body}END'
        )
