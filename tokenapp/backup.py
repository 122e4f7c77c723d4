"""`tokenapp backup PATH`: a consistent copy of the database while the app runs.

SQLite: the online backup API (sqlite3.Connection.backup) copies the live
file page by page; a copy interrupted by a writer restarts, so the result is
one consistent snapshot, WAL content included. The copy is then checked
with PRAGMA integrity_check. PostgreSQL has its own tool, pg_dump.
"""

import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from .files import private_file
from .files import private_folder


class BackupError(RuntimeError):
    """The backup could not be made; the message says what to do."""


def sqlite_path(url: str) -> str | None:
    """The file of a sqlite:/// URL, None for any other database."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("sqlite"):
        return None
    return rest[1:] if rest.startswith("/") else rest


def pg_dump_advice(url: str) -> str:
    parts = urlsplit(url)
    shown = parts.netloc
    if parts.password:
        shown = shown.replace(f":{parts.password}@", ":***@")
    safe = urlunsplit(parts._replace(scheme="postgresql", netloc=shown))
    return (
        "The database is PostgreSQL: back it up with its own tool, for example\n"
        f"  pg_dump --format=custom --file=tokenapp.dump '{safe}'\n"
        "and restore into an empty database with\n"
        "  pg_restore --dbname=postgresql://…/tokenapp tokenapp.dump\n"
        "(or pg_dump without --format and `psql … < tokenapp.sql`)."
    )


def backup_sqlite(source: str, target: str, *, pages: int = 256) -> dict:
    """Copy source into target (replacing it) and check the copy; returns facts about it."""
    if not os.path.exists(source):
        raise BackupError(f"No database at {source}: nothing to back up (run `tokenapp init`?).")
    target_path = Path(target)
    if target_path.resolve() == Path(source).resolve():
        raise BackupError("The backup must go to another file than the database itself.")
    private_folder(target_path.parent)
    partial = target_path.with_name(target_path.name + ".partial")
    partial.unlink(missing_ok=True)
    # Made 0600 before SQLite opens it: the copy holds every export key and password hash.
    private_file(partial)
    src = sqlite3.connect(source, timeout=30)
    try:
        src.execute("PRAGMA busy_timeout = 30000")
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=pages)
            # One self-contained file: no -wal beside it.
            dst.execute("PRAGMA journal_mode = DELETE")
            check = dst.execute("PRAGMA integrity_check").fetchall()
            tables = [
                name
                for (name,) in dst.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
        finally:
            dst.close()
    finally:
        src.close()
    if check != [("ok",)]:
        partial.unlink(missing_ok=True)
        raise BackupError(f"The copy failed integrity_check: {check[:5]}")
    os.replace(partial, target_path)
    return {"path": str(target_path), "bytes": target_path.stat().st_size, "tables": len(tables)}
