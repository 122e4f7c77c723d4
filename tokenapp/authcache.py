"""The auth lookup's rows kept per process, reused only while nothing auth-relevant changed.

Migration 0012's triggers bump one counter (auth_generation) on every change the lookup
could see, whoever writes it: the app, the CLI, psql. A row is kept with the counter read
in its own statement (one snapshot: never tagged newer than its data); a request with a
kept row sends one statement, the counter, and uses the row only if it is unchanged. The
row still goes through every rule (auth._principal: expiry and grace against the clock, on
each request). Unknown digests are kept too, in a bound of their own, so a flood of random
tokens neither grows memory nor pushes out the tokens in use. Inside a transaction (whose
own uncommitted writes the counter does not show yet) the lookup runs as before.
TOKENAPP_AUTH_CACHE=false turns it off (README; on by default: it pays on both backends).
"""

import logging
import threading
from collections import OrderedDict

from flask import Flask
from flask.globals import _cv_app
from peewee import JOIN
from peewee import SQL
from peewee import Alias
from peewee import Select
from peewee import Table

from .db import database
from .db import is_sqlite
from .prepared import Prepared
from .prepared import _column

log = logging.getLogger(__name__)

SIZE = 4096  # rows of known secrets (per lookup shape: with or without a project named)
UNKNOWN_SIZE = 1024  # digests no secret has

GENERATION = Table("auth_generation", ("id", "value")).bind(database)
_GENERATION = GENERATION.select(GENERATION.value).where(GENERATION.id == 1)
COUNTER = Prepared(lambda: _GENERATION)


class _Kept:
    """A least-recently-used dict, safe under threads."""

    def __init__(self, size: int):
        self.size = size
        self.rows: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            entry = self.rows.get(key)
            if entry is not None:
                self.rows.move_to_end(key)
            return entry

    def put(self, key, entry) -> None:
        with self.lock:
            self.rows[key] = entry
            self.rows.move_to_end(key)
            if len(self.rows) > self.size:
                self.rows.popitem(last=False)

    def drop(self, key) -> None:
        with self.lock:
            self.rows.pop(key, None)


_known, _unknown = _Kept(SIZE), _Kept(UNKNOWN_SIZE)
_counted: dict[str, Prepared] = {}  # a lookup's name -> it with the counter, one row always
_owner: list = [None, False]  # the database object the kept rows came from; its triggers ok
# The triggers migrations 0012 and 0013 make (a table SQLite's migrator rebuilds loses its own).
TRIGGERS = (
    (
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name GLOB 'auth_changed_*'",
        15,
    ),
    (
        "SELECT count(*) FROM pg_trigger WHERE tgname IN ('auth_changed', 'auth_changed_truncate')"
        " AND tgenabled <> 'D'",
        10,
    ),
)


def first(lookup: Prepared, digest: str, slug: str | None) -> dict | None:
    """lookup's row for (digest, slug), as lookup.first gives it, or None: kept or read."""
    values = {"digest": digest, "slug": slug} if slug else {"digest": digest}
    context = _cv_app.get(None)
    if context is None or not context.app.config["AUTH_CACHE"] or database.in_transaction():
        return lookup.first(**values)
    if _owner[0] is not database.obj:  # another database (tests, a second app): start anew
        _start()
    if not _owner[1]:
        return lookup.first(**values)
    key = (digest, slug)
    entry = _known.get(key) or _unknown.get(key)
    if entry is not None:
        now = COUNTER.first()
        if now is not None and now["value"] == entry[0]:
            return entry[1]
    read = (_counted.get(lookup.name) or _count(lookup)).first(**values)
    COUNTER.ready()  # the next request's one statement: PREPAREd now, not then
    row = read if read["id"] is not None else None
    if read["generation"] is not None:  # no counter row (deleted): nothing kept
        kept, other = (_known, _unknown) if row is not None else (_unknown, _known)
        kept.put(key, (read["generation"], row))
        other.drop(key)  # a known row kept, then deleted: else looked at first, a miss each time
    return row


def _start() -> None:
    """Forget every row; keep none unless every trigger is there and enabled (else say so)."""
    clear()
    sql, wanted = TRIGGERS[0 if is_sqlite() else 1]
    found = database.execute_sql(sql).fetchone()[0]
    if found < wanted:
        log.warning("auth cache off: %d of the %d auth_changed triggers exist", found, wanted)
    _owner[:] = [database.obj, found >= wanted]


def _count(lookup: Prepared) -> Prepared:
    """lookup's query LEFT JOINed to the counter: the counter and the row (all NULL when
    there is none) in one statement."""
    columns = lookup.build(**dict.fromkeys(lookup.params))._returning
    convert = {name: how for name, how in map(_column, columns)}
    convert.update(lookup.convert)

    def build(**marks):
        found = lookup.build(**marks).alias("found")
        now = Select(columns=[_GENERATION.alias("generation")]).bind(database).alias("now")
        wanted = [
            found.c[node._alias if isinstance(node, Alias) else node.column_name].alias(name)
            for node, name in ((node, _column(node)[0]) for node in columns)
        ]
        return (
            Select(from_list=[now], columns=[now.c.generation, *wanted])
            .bind(database)
            .join(found, JOIN.LEFT_OUTER, on=SQL("1 = 1"))
        )

    counted = _counted[lookup.name] = Prepared(build, convert=convert, **lookup.params)
    return counted


def cached(digest: str, slug: str | None = None) -> tuple | None:
    """(counter, row or None) kept for (digest, slug), or None (tests)."""
    key = (digest, slug)
    return _known.rows.get(key) or _unknown.rows.get(key)


def size() -> int:
    return len(_known.rows) + len(_unknown.rows)


def clear() -> None:
    for kept in (_known, _unknown):
        with kept.lock:
            kept.rows.clear()


def init_app(app: Flask) -> None:
    """A new app (a new database object): nothing kept from another."""
    clear()
    _owner[:] = [None, False]  # the triggers are looked for again at the first request
