"""Fill a fresh SQLite database with N live tokens, fast (not through the API).

    python -m bench.seed INSTANCE_DIR N        # prints the kept secrets as JSON

The bulk of the tokens belong to a filler user and are written with peewee's
insert_many in large transactions; their secrets are valid (prefix, body,
CRC32 checksum) but thrown away once digested. The handful the benchmark
sends (a PAT with every scope, an export key, a full key, a PAT with limits)
are made through tokenapp.lifecycle like any other, and returned.
"""

import datetime
import hashlib
import json
import os
import sys
import time
import uuid
from pathlib import Path

from tokenapp import accounts
from tokenapp import create_app
from tokenapp import credentials
from tokenapp import db
from tokenapp import lifecycle
from tokenapp import projects
from tokenapp.access import catalogue
from tokenapp.models import Credential
from tokenapp.models import Document
from tokenapp.models import Secret
from tokenapp.models import User

PER_TRANSACTION = 100_000
# One random byte -> one base62 character (a little bias; fine for filler secrets).
_TABLE = bytes((credentials.ALPHABET[b % 62]).encode()[0] for b in range(256))


def filler_secret() -> str:
    head = "tkp_" + os.urandom(credentials.RANDOM_LENGTH).translate(_TABLE).decode()
    return head + credentials.checksum(head)


def _rows(user_id: int, count: int, created: datetime.datetime):
    """(credential row, secret row) tuples for `count` filler PATs."""
    scopes = json.dumps(["dashboard:view"], separators=(",", ":"))
    sha = hashlib.sha256
    created = created.isoformat(" ")
    # Version-4 UUIDs whose first 48 bits count up: the primary-key index grows at
    # its end instead of taking a random page per row (the random part stays random).
    base = int.from_bytes(os.urandom(2), "big") << 32
    for _ in range(count):
        secret = filler_secret()
        _rows.counter += 1
        high = (base + _rows.counter) << 80
        cid = uuid.UUID(int=high | int.from_bytes(os.urandom(10), "big"), version=4).hex
        yield (
            (cid, "pat", user_id, None, "filler", scopes, created, None, None, None, None, None),
            (cid, sha(secret.encode()).hexdigest(), None, secret[:8], created, None, False),
        )


_rows.counter = 0

CREDENTIAL_FIELDS = [
    Credential.id,
    Credential.kind,
    Credential.user,
    Credential.project,
    Credential.note,
    Credential.scopes,
    Credential.created_at,
    Credential.expires_at,
    Credential.revoked_at,
    Credential.last_used,
    Credential.ip_allowlist,
    Credential.rate_limit,
]
SECRET_FIELDS = [
    Secret.credential,
    Secret.digest,
    Secret.clear,
    Secret.hint,
    Secret.created_at,
    Secret.expires_at,
    Secret.ends_grace,
]


def _insert_sql(model, fields, row) -> str:
    # peewee writes the one-row INSERT; sqlite3's executemany repeats it. Building
    # a multi-row INSERT through peewee costs ~40 µs a row in SQL generation alone.
    sql, _ = model.insert_many([row], fields=fields).sql()
    return sql


def bulk_tokens(user_id: int, count: int) -> None:
    database = db.database
    created = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    sample = next(_rows(user_id, 1, created))
    credential_sql = _insert_sql(Credential, CREDENTIAL_FIELDS, sample[0])
    secret_sql = _insert_sql(Secret, SECRET_FIELDS, sample[1])
    # A throwaway database: no fsync per transaction and a big page cache while filling it.
    database.execute_sql("PRAGMA synchronous = OFF")
    database.execute_sql("PRAGMA cache_size = -1000000")
    database.execute_sql("PRAGMA journal_mode = OFF")
    done = 0
    while done < count:
        chunk = min(PER_TRANSACTION, count - done)
        rows = list(_rows(user_id, chunk, created))
        with database.atomic():
            cursor = database.cursor()
            cursor.executemany(credential_sql, [c for c, _ in rows])
            cursor.executemany(secret_sql, [s for _, s in rows])
        done += chunk
    database.execute_sql("PRAGMA journal_mode = WAL")
    database.execute_sql("PRAGMA synchronous = FULL")
    database.execute_sql("PRAGMA cache_size = -16000")


def seed(instance: str | os.PathLike, count: int) -> dict:
    """Create the database in `instance` with `count` filler PATs plus the bench fixtures."""
    instance = Path(instance)
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "tokenapp.db"
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    os.environ["TOKENAPP_INSTANCE_PATH"] = str(instance)
    app = create_app({"DATABASE_URL": url, "BCRYPT_ROUNDS": 4})
    with app.app_context(), db.database.connection_context():
        db.migrate()
        bench = accounts.create_user("bench", "bench-password-1234", is_admin=True)
        filler = accounts.create_user("filler", "bench-password-1234")
        project = projects.create("bench", "Bench", bench)
        every_scope = sorted(catalogue().scope_strings)
        pat = _pat(bench, every_scope)
        limited = _pat(bench, every_scope, ip_allowlist=["127.0.0.0/8"], rate_limit=100_000)
        _, export_key = lifecycle.issue("export", bench, "bench export", project=project)
        _, full_key = lifecycle.issue("full", bench, "bench full", project=project)
        document = Document.create(
            project=project,
            collection="dashboards",
            body={"name": "bench", "widgets": [1, 2, 3]},
            created_by=bench,
        )
        started = time.monotonic()
        bulk_tokens(filler.id, count - 4)
        seconds = time.monotonic() - started
        total = Credential.select().count()
        assert User.select().count() == 2
    return {
        "database_url": url,
        "instance": str(instance),
        "count": total,
        "bulk_seconds": round(seconds, 1),
        "project": project.slug,
        "document": str(document.id),
        "pat": pat,
        "pat_limited": limited,
        "export_key": export_key,
        "full_key": full_key,
    }


def _pat(user: User, scopes: list[str], **limits) -> str:
    _, secret = lifecycle.issue("pat", user, "bench", scopes=scopes, **limits)
    return secret


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(seed(argv[0], int(argv[1])), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
