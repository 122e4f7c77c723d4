"""Fill a fresh database (SQLite or PostgreSQL) with N live tokens, fast (not through the API).

    python -m bench.seed INSTANCE_DIR N [DATABASE_URL]   # prints the kept secrets as JSON

Without DATABASE_URL the database is a new SQLite file in INSTANCE_DIR; with
one it must be an empty PostgreSQL database (`postgres_database` makes and
drops one). The bulk of the tokens belong to a filler user; their secrets are
valid (prefix, body, CRC32 checksum) and all but a sample are thrown away once
digested. The handful the benchmark sends (a PAT with every scope, an export
key, a full key, a PAT with limits) are made through tokenapp.lifecycle like
any other, and returned.

The filler rows go in with the two tables' secondary indexes (and, on
PostgreSQL, foreign keys) dropped and recreated afterwards, exactly as the
migrations made them (their definitions are read back from the database):
one sort per index instead of a random B-tree insert per row. SQLite takes
them through executemany, with no fsync; PostgreSQL through COPY, then
ANALYZE as autovacuum would.
"""

import contextlib
import datetime
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from tokenapp import accounts
from tokenapp import create_app
from tokenapp import credentials
from tokenapp import db
from tokenapp import lifecycle
from tokenapp import projects
from tokenapp.access import catalogue
from tokenapp.fields import RATE_LIMIT
from tokenapp.models import Credential
from tokenapp.models import Document
from tokenapp.models import Secret
from tokenapp.models import User

PER_TRANSACTION = 100_000
SAMPLE = 3  # filler secrets kept, so that a test can verify the bulk rows
LIMITED_POOL = 8  # rate-limited PATs the on/off cycles take in turn
TABLES = ("credential", "secret")
SCOPES = json.dumps(["dashboard:view"], separators=(",", ":"))
# One random byte -> one base62 character (a little bias; fine for filler secrets).
_TABLE = bytes((credentials.ALPHABET[b % 62]).encode()[0] for b in range(256))
# Version-4 UUID bits: version 4 in bits 76-79, variant 10 in bits 62-63.
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)

CREDENTIAL_FIELDS = [
    Credential.id,
    Credential.kind,
    Credential.user,
    Credential.note,
    Credential.scopes,
    Credential.created_at,
]
SECRET_FIELDS = [
    Secret.credential,
    Secret.digest,
    Secret.hint,
    Secret.created_at,
    Secret.ends_grace,
]


def filler_secret() -> str:
    return _secret(os.urandom(credentials.RANDOM_LENGTH))


def _secret(random: bytes) -> str:
    head = "tkp_" + random.translate(_TABLE).decode()
    return head + credentials.checksum(head)


def _filler(count: int, sample: list[str]) -> Iterator[tuple[str, str, str]]:
    """(credential id as hex, SHA-256 hex, hint) for `count` filler PATs.

    The ids are version-4 UUIDs whose first 48 bits count up: the primary-key
    index grows at its end instead of taking a random page per row (the rest
    stays random). The first SAMPLE secrets are appended to `sample`.
    """
    sha = hashlib.sha256
    width = credentials.RANDOM_LENGTH
    base = (int.from_bytes(os.urandom(2), "big") << 32) + _filler.counter
    _filler.counter += count
    # One read of the random source for the whole chunk: 30 bytes of secret, 10 of id each.
    pool = os.urandom(count * (width + 10))
    for i in range(count):
        at = i * (width + 10)
        secret = _secret(pool[at : at + width])
        if len(sample) < SAMPLE:
            sample.append(secret)
        low = int.from_bytes(pool[at + width : at + width + 10], "big")
        number = (((base + i) << 80) | low) & _UUID_CLEAR | _UUID_SET
        yield f"{number:032x}", sha(secret.encode()).hexdigest(), secret[:8]


_filler.counter = 0


def bulk_tokens(user_id: int, count: int) -> list[str]:
    """Insert `count` filler PATs of `user_id`; returns a sample of their secrets."""
    created = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    sample: list[str] = []
    if db.is_sqlite():
        _bulk_sqlite(user_id, count, created, sample)
    else:
        _bulk_postgres(user_id, count, created, sample)
    # The filler went in without the auth_changed triggers (migration 0012): one bump for all.
    db.database.execute_sql("UPDATE auth_generation SET value = value + 1 WHERE id = 1")
    return sample


def _insert_sql(model, fields) -> str:
    # peewee writes the one-row INSERT; sqlite3's executemany repeats it. Building
    # a multi-row INSERT through peewee costs ~40 µs a row in SQL generation alone.
    sql, _ = model.insert_many([[None] * len(fields)], fields=fields).sql()
    return sql


def _bulk_sqlite(user_id: int, count: int, created, sample: list[str]) -> None:
    database = db.database
    credential_sql = _insert_sql(Credential, CREDENTIAL_FIELDS)
    secret_sql = _insert_sql(Secret, SECRET_FIELDS)
    created = created.isoformat(" ")
    # A throwaway database: no fsync, no rollback journal, a big page cache while filling it.
    for pragma in ("synchronous = OFF", "cache_size = -1000000", "journal_mode = OFF"):
        database.execute_sql(f"PRAGMA {pragma}")
    indexes = database.execute_sql(
        "SELECT name, sql, type FROM sqlite_master WHERE type IN ('index', 'trigger') "
        "AND sql IS NOT NULL AND tbl_name IN (?, ?)",
        TABLES,
    ).fetchall()
    for name, _, kind in indexes:
        database.execute_sql(f'DROP {kind.upper()} "{name}"')
    done = 0
    while done < count:
        chunk = min(PER_TRANSACTION, count - done)
        rows = list(_filler(chunk, sample))
        with database.atomic():
            cursor = database.cursor()
            cursor.executemany(
                credential_sql,
                [(cid, "pat", user_id, "filler", SCOPES, created) for cid, _, _ in rows],
            )
            cursor.executemany(
                secret_sql, [(cid, digest, hint, created, 0) for cid, digest, hint in rows]
            )
        done += chunk
    for _, sql, _ in indexes:
        database.execute_sql(sql)
    for pragma in (
        "journal_mode = WAL",
        f"synchronous = {db.SQLITE_PRAGMAS['synchronous']}",
        f"cache_size = {db.SQLITE_PRAGMAS['cache_size']}",
    ):
        database.execute_sql(f"PRAGMA {pragma}")


def _bulk_postgres(user_id: int, count: int, created, sample: list[str]) -> None:
    database = db.database
    created = created.isoformat(" ")
    tables = list(TABLES)
    with database.atomic():
        database.execute_sql("SET LOCAL synchronous_commit TO OFF")
        indexes = database.execute_sql(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
            "AND i.schemaname = current_schema() AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (tables,),
        ).fetchall()
        keys = database.execute_sql(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
            (tables,),
        ).fetchall()
        for table, name, _ in keys:
            database.execute_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            database.execute_sql(f'DROP INDEX "{name}"')
        for table in tables:  # a deferred event per row, and none may be pending at CREATE INDEX
            database.execute_sql(f'ALTER TABLE "{table}" DISABLE TRIGGER auth_changed')
        cursor = database.cursor()
        credential_columns = ", ".join(f'"{f.column_name}"' for f in CREDENTIAL_FIELDS)
        secret_columns = ", ".join(f'"{f.column_name}"' for f in SECRET_FIELDS)
        done = 0
        while done < count:
            chunk = min(PER_TRANSACTION, count - done)
            rows = list(_filler(chunk, sample))
            cursor.copy_expert(
                f"COPY credential ({credential_columns}) FROM STDIN",
                _lines(f"{cid}\tpat\t{user_id}\tfiller\t{SCOPES}\t{created}" for cid, _, _ in rows),
            )
            cursor.copy_expert(
                f"COPY secret ({secret_columns}) FROM STDIN",
                _lines(f"{cid}\t{digest}\t{hint}\t{created}\tf" for cid, digest, hint in rows),
            )
            done += chunk
        for _, sql in indexes:
            database.execute_sql(sql)
        for table, name, definition in keys:
            database.execute_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        for table in tables:
            database.execute_sql(f'ALTER TABLE "{table}" ENABLE TRIGGER auth_changed')
    for table in tables:
        database.execute_sql(f'ANALYZE "{table}"')


def _lines(lines: Iterator[str]) -> io.StringIO:
    return io.StringIO("\n".join(lines) + "\n")


@contextlib.contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database `name` on the server of `server_url`, dropped after.

    `server_url`'s own database (default `postgres`) is only used to create
    and drop the new one. Yields the new database's URL.
    """
    import psycopg2

    parts = urlsplit(server_url)
    admin_url = urlunsplit(parts._replace(path=parts.path if parts.path != "/" else "/postgres"))
    admin = psycopg2.connect(admin_url, connect_timeout=5)
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        if db.database.obj is not None:
            db.database.obj.close_all()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def seed(instance: str | os.PathLike, count: int, database_url: str | None = None) -> dict:
    """Fill a database with `count` live PATs in all (filler plus the bench fixtures).

    Without `database_url`: a new SQLite file in `instance` (any old one is
    removed). With one: that (empty) database. `instance` holds the secret key.
    """
    instance = Path(instance)
    instance.mkdir(parents=True, exist_ok=True)
    if database_url is None:
        path = instance / "tokenapp.db"
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
        database_url = f"sqlite:///{path}"
    os.environ["TOKENAPP_INSTANCE_PATH"] = str(instance)
    app = create_app({"DATABASE_URL": database_url, "BCRYPT_ROUNDS": 4})
    with app.app_context(), db.database.connection_context():
        db.migrate()
        bench = accounts.create_user("bench", "bench-password-1234", is_admin=True)
        filler = accounts.create_user("filler", "bench-password-1234")
        project = projects.create("bench", "Bench", bench)
        every_scope = sorted(catalogue().scope_strings)
        pat = _pat(bench, every_scope)
        # The highest rate limit a token may have (100,000 a minute) is below what the fast
        # path serves: each on/off cycle's sample takes the next token of a pool, so none
        # reaches its limit and answers 429 (make bench would stop on the errors).
        limited, *pool = (
            _pat(bench, every_scope, ip_allowlist=["127.0.0.0/8"], rate_limit=RATE_LIMIT.high)
            for _ in range(1 + LIMITED_POOL)
        )
        _, export_key = lifecycle.issue("export", bench, "bench export", project=project)
        _, full_key = lifecycle.issue("full", bench, "bench full", project=project)
        document = Document.create(
            project=project,
            collection="dashboards",
            body={"name": "bench", "widgets": [1, 2, 3]},
            created_by=bench,
        )
        started = time.monotonic()
        sample = bulk_tokens(filler.id, count - 4 - LIMITED_POOL)
        seconds = time.monotonic() - started
        total = Credential.select().count()
        assert User.select().count() == 2
    db.database.close_all()
    return {
        "database_url": database_url,
        "backend": "SQLite" if database_url.startswith("sqlite") else "PostgreSQL",
        "instance": str(instance),
        "count": total,
        "bulk_seconds": round(seconds, 1),
        "project": project.slug,
        "document": str(document.id),
        "pat": pat,
        "pat_limited": limited,
        "pat_limited_pool": pool,
        "export_key": export_key,
        "full_key": full_key,
        "filler_sample": sample,
    }


def _pat(user: User, scopes: list[str], **limits) -> str:
    _, secret = lifecycle.issue("pat", user, "bench", scopes=scopes, **limits)
    return secret


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(seed(argv[0], int(argv[1]), *argv[2:]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
