"""The database: one proxy, bound late to SQLite or PostgreSQL by URL."""

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from peewee import DatabaseProxy
from peewee import Model
from peewee import Query
from playhouse import db_url
from playhouse.migrations import Runner
from playhouse.pool import PooledSqliteDatabase

from .config import ImproperlyConfigured
from .files import private_again
from .files import private_file

log = logging.getLogger(__name__)

database = DatabaseProxy()

MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "cache_size": -16000,
    # FULL: an acknowledged write survives power loss, not only a crash.
    "synchronous": "full",
    "busy_timeout": 10000,
}

# A connection kept per worker, not one per request: measured in DESIGN §9,
# connect/close per request halves throughput on SQLite.
POOLED = {
    "sqlite": "tokenapp+sqlite",
    "sqlite+pool": "tokenapp+sqlite",
    "postgres": "postgresql+pool",
    "postgresql": "postgresql+pool",
}


class PrivatePooledSqliteDatabase(PooledSqliteDatabase):
    """SQLite's pool, creating a missing database file 0600 (and so its -wal and -shm).

    Left to SQLite the file would be 0644 under the usual umask, readable by
    every local user: it holds every export key and password hash. A file an
    older version made that way is tightened to 0600 here, with its -wal and
    -shm: the first connection of every process (init, serve, wsgi, any
    command), so an upgrade needs no step of its own.
    """

    _file_made = False

    def _connect(self):
        if not self._file_made:
            if self.database not in ("", ":memory:") and not self.database.startswith("file:"):
                private_file(self.database)
                _tighten(self.database)
            self._file_made = True
        return super()._connect()


def _tighten(path: str) -> None:
    names = (path, f"{path}-wal", f"{path}-shm", f"{path}-journal")
    tightened = [(name, private_again(name)) for name in names]
    said = ", ".join(f"{name} (was {before:04o})" for name, before in tightened if before)
    if said:
        log.warning("database files were readable by others; made them 0600: %s", said)


db_url.register_database(PrivatePooledSqliteDatabase, "tokenapp+sqlite")


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


def connect(url: str):
    """Build the database object for URL (always a pooled class)."""
    given, sep, rest = url.partition("://")
    scheme = POOLED.get(given, given)
    if not sep or scheme not in ("tokenapp+sqlite", "postgresql+pool"):
        raise ImproperlyConfigured(
            "TOKENAPP_DATABASE_URL must look like sqlite:////path/to/file.db "
            "or postgresql://user@host/dbname"
        )
    url = f"{scheme}://{rest}"
    options = {"max_connections": 32, "stale_timeout": 300, "autoconnect": False}
    if scheme == "tokenapp+sqlite":
        options["pragmas"] = SQLITE_PRAGMAS
        options["check_same_thread"] = False
        # Transactions take the write lock when they begin. A deferred one that
        # reads and then writes fails at once with "database is locked" when
        # another worker committed in between: the busy timeout cannot save it
        # (found by the fuzzer: two workers flushing usage counts).
        options["lock_type"] = "IMMEDIATE"
    return db_url.connect(url, **options)


# The connection each thread keeps, by id: a thread that ends cannot hand its
# connection back, so the next thread to connect closes it (else the pool fills).
_kept: dict[int, tuple[threading.Thread, object]] = {}
_kept_lock = threading.Lock()


def init_app(app: Flask) -> None:
    previous = database.obj
    if previous is not None:  # a second app in this process (tests): let its connections go
        previous.close_all()
        _kept.clear()
    database.initialize(connect(app.config["DATABASE_URL"]))
    app.before_request(open_connection)
    app.teardown_appcontext(release_connection)


def open_connection() -> None:
    """The thread's connection, kept between requests (checkout and return cost ~18 µs).

    A PostgreSQL connection the server dropped is replaced here, so only the
    request that met the error fails.
    """
    obj = database.obj  # once: each attribute through the proxy costs a call
    if not obj.is_closed():
        if not getattr(obj.connection(), "closed", 0):
            return
        _release()  # psycopg2: lost (server restart, idle kill)
    _reclaim()
    database.connect()
    conn = database.connection()
    _kept[id(conn)] = (threading.current_thread(), conn)


def _reclaim() -> None:
    with _kept_lock:
        for key, (thread, conn) in list(_kept.items()):
            if not thread.is_alive():
                del _kept[key]
                database.obj._close(conn, close_conn=True)


def _release() -> None:
    _kept.pop(id(database.connection()), None)
    database.close()


def release_connection(exc: BaseException | None = None) -> None:
    """Keep the connection, never with a transaction open across requests."""
    obj = database.obj
    if obj.is_closed():
        return
    conn = obj.connection()
    if exc is not None or obj.in_transaction() or _open_or_dead(conn):
        _release()


def _open_or_dead(conn) -> bool:
    if hasattr(conn, "get_transaction_status"):  # psycopg2: anything but idle
        return conn.closed or conn.get_transaction_status() != 0
    return conn.in_transaction  # sqlite3


@contextmanager
def counter_transaction() -> Iterator[None]:
    """A transaction whose commit need not survive power loss: counters, not records.

    Rate windows, usage counts and last_used may lose their last second in a
    power cut; skipping the fsync keeps them off the request's critical path.
    Every acknowledged record (users, credentials, documents) still commits
    with the full guarantee.
    """
    if is_sqlite():
        database.execute_sql("PRAGMA synchronous = NORMAL")
        try:
            with database.atomic():
                yield
        finally:
            database.execute_sql(f"PRAGMA synchronous = {SQLITE_PRAGMAS['synchronous']}")
    else:
        with database.atomic():
            database.execute_sql(ASYNC_COMMIT)
            yield


ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF"


def counter_write(query: Query) -> int:
    """One write as counter_transaction runs it; returns the rows it changed.

    On PostgreSQL, outside a transaction, one round trip instead of four (BEGIN,
    SET LOCAL, the write, COMMIT): the SET and the write go as one message, which
    the server runs as one implicit transaction (committed, or rolled back on
    error, before it answers), so no transaction is left open.
    """
    if is_sqlite() or database.in_transaction():
        with counter_transaction():
            return query.execute()
    sql, params = query.sql()
    return database.execute_sql(f"{ASYNC_COMMIT}; {sql}", params).rowcount


def locked(model: type[Model], key) -> Model | None:
    """Row `key` of `model`, read afresh and held until the transaction ends.

    Every read-check-write (one live secret per credential, a project's last
    owner) starts with it, so that two of them on one row run one after the
    other and the second checks what the first committed. PostgreSQL locks
    the row (SELECT ... FOR UPDATE); SQLite's transactions begin IMMEDIATE,
    so the database's write lock is already held.
    """
    rows = lock(model.select().where(model._meta.primary_key == key))
    return rows[0] if rows else None


def lock(query: Query) -> list:
    """The rows of `query`, held until the transaction ends (see `locked`)."""
    if not database.in_transaction():
        raise RuntimeError("A row lock needs a transaction: take it inside database.atomic().")
    if not is_sqlite():
        # One order for everyone: two transactions locking the same rows never deadlock.
        query = query.order_by(query.model._meta.primary_key).for_update()
    return list(query)


def from_row(model: type[Model], values: dict) -> Model:
    """A `model` of a row's values by field name (foreign keys as ids), built as peewee's
    own reads build one: no defaults made, nothing marked dirty (no setattr per field)."""
    instance = model(__no_default__=True)
    instance.__data__.update(values)
    return instance


def migrate() -> list[str]:
    """Apply pending migrations; returns the names applied."""
    with database.connection_context():
        applied = Runner(database.obj, MIGRATIONS).up()
    for name in applied:
        log.info("applied migration %s", name)
    return applied


def pending() -> list[str]:
    with database.connection_context():
        return [m.name for m in Runner(database.obj, MIGRATIONS).status() if not m.applied]


def is_sqlite() -> bool:
    return database.obj.__class__.__name__.endswith("SqliteDatabase")
