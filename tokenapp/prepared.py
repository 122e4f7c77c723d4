"""Prepared queries: peewee builds each once, the database runs it with new values."""

import functools
import itertools
import logging
import re
import weakref
from collections.abc import Callable

from peewee import Alias
from peewee import BooleanField
from peewee import CharField
from peewee import DateTimeField
from peewee import Field
from peewee import FieldAlias
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import Query
from peewee import TextField
from peewee import UUIDField
from peewee import Value
from peewee import __exception_wrapper__
from peewee import logger as peewee_log

from .db import database
from .db import is_sqlite


class Prepared:
    """A query that peewee builds once per process and database class, run with new values.

    Building a peewee query costs about 25 times what SQLite needs to run a
    primary-key lookup (bench/profile.md), so the hot-path queries compile
    once. `build` receives one placeholder per parameter and returns a SELECT,
    or a write with RETURNING; `params` names each parameter with the field
    whose ``db_value`` stores it (None: passed as is), so callers pass Python
    values (a UUID, a datetime), as they would to peewee. The first row comes
    back as a dict keyed by column name or alias, converted by the selected
    fields as peewee would, or by `convert`'s function for that name (not
    called for NULL).
    """

    _made = itertools.count(1)

    def __init__(
        self,
        build: Callable[..., Query],
        convert: dict[str, Callable] | None = None,
        **params: Field | None,
    ):
        self.build = build
        self.convert = convert or {}
        self.params = params
        self.name = f"tokenapp_{next(self._made)}"  # PostgreSQL's name for the statement
        self.compiled: dict[type, tuple[str, str | None, list, dict, tuple, list]] = {}

    def first(self, *, before: str | None = None, **values) -> dict | None:
        """The first row. before (PostgreSQL, outside a transaction): a statement sent in the
        same message, so the two run as one implicit transaction, in one round trip."""
        compiled = self.compiled.get(type(database.obj)) or self._compile()
        sql, prepare, arguments, fixed, names, converted = compiled
        if fixed:
            values.update(fixed)
        bound = [convert(values[name]) for name, convert in arguments]
        if prepare is None:
            cursor = _run(sql, bound)
        else:
            cursor = _execute(self.name, prepare, f"{before}; {sql}" if before else sql, bound)
        # fetchall: a write's RETURNING row must be read to the end before COMMIT.
        rows = cursor.fetchall()
        if not rows:
            return None
        row = dict(zip(names, rows[0], strict=True))
        for name, convert in converted:  # only the columns that need it (~half)
            value = row[name]
            if value is not None:
                row[name] = convert(value)
        return row

    def ready(self) -> None:
        """PostgreSQL: PREPARE it on this connection now if it is not yet, so that its first
        use sends no PREPARE of its own (outside a transaction)."""
        prepare = (self.compiled.get(type(database.obj)) or self._compile())[1]
        names = _prepared.setdefault(database.connection(), set()) if prepare else ()
        if prepare and self.name not in names:
            _prepare(self.name, prepare, names)

    def _compile(self):
        marks = {name: Value(_Mark(name), converter=False) for name in self.params}
        query = self.build(**marks)
        sql, params = query.sql()
        arguments, fixed = [], {}
        for number, param in enumerate(params):
            if isinstance(param, _Mark):
                field = self.params[param.name]
                arguments.append((param.name, _as_is if field is None else field.db_value))
            else:  # a value the query itself fixed (e.g. LIMIT 1)
                fixed[f"\x00{number}"] = param
                arguments.append((f"\x00{number}", _as_is))
        columns = [_column(node) for node in query._returning]
        columns = [(name, self.convert.get(name, convert)) for name, convert in columns]
        names = tuple(name for name, _ in columns)
        converted = [(name, convert) for name, convert in columns if convert is not None]
        prepare = None
        if not is_sqlite():
            # PostgreSQL plans a statement sent as text on every execution: 1.3 ms for
            # the five-table lookup, 0.1 ms as EXECUTE of a prepared one (bench/profile.md).
            numbers = itertools.count(1)
            prepare = f"PREPARE {self.name} AS " + re.sub("%s", lambda _: f"${next(numbers)}", sql)
            sql = f"EXECUTE {self.name}({', '.join(['%s'] * len(params))})"
        compiled = (sql, prepare, arguments, fixed, names, converted)
        self.compiled[type(database.obj)] = compiled
        return compiled


def _run(sql: str, bound: list):
    """database.execute_sql, without its layers when nothing listens to them (~2 µs of a
    ~35 µs verify): peewee's error mapping (IntegrityError, OperationalError, ... with
    the driver's as `orig`) and its checks of the connection stay; with a query hook
    (tests' sql_log) or peewee's debug log on, peewee's own path runs."""
    obj = database.obj
    if obj.query_hooks or peewee_log.isEnabledFor(logging.DEBUG):
        return obj.execute_sql(sql, bound)
    try:
        cursor = obj.cursor()
        cursor.execute(sql, bound)
    except Exception:
        with __exception_wrapper__:  # peewee's class for the driver's error, only on error
            raise
    return cursor


# The statements prepared on each PostgreSQL connection (a session's own; a reconnect is
# a new connection object and prepares again). PREPARE is not undone by a rollback.
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


UNKNOWN_STATEMENT = "26000"  # invalid_sql_statement_name: DISCARD ALL, DEALLOCATE
CHANGED_RESULT = "0A000"  # "cached plan must not change result type" (ALTER COLUMN ... TYPE)
STALE = "stale:"  # in a connection's set: DEALLOCATE before preparing again


def _execute(name: str, prepare: str, execute: str, bound: list):
    """EXECUTE on this connection, PREPAREd there first; a lost or stale statement prepared again.

    Outside a transaction that happens at once; inside one the transaction is
    aborted, so it fails (and rolls back) and the next call prepares again.
    """
    conn = database.connection()
    names = _prepared.get(conn)
    if names is None:
        names = _prepared[conn] = set()
    if name not in names:
        _prepare(name, prepare, names)
    try:
        return _run(execute, bound)
    except Exception as exc:
        code = getattr(getattr(exc, "orig", None), "pgcode", None)
        if code == UNKNOWN_STATEMENT:  # none of this connection's statements are left
            names.clear()
        elif code == CHANGED_RESULT:
            names.discard(name)
            names.add(STALE + name)
        else:
            raise
        if conn.get_transaction_status() != 0:
            raise
    _prepare(name, prepare, names)
    return _run(execute, bound)


def _prepare(name: str, statement: str, names: set) -> None:
    if STALE + name in names:
        database.execute_sql(f"DEALLOCATE {name}")
        names.discard(STALE + name)
    database.execute_sql(statement)
    names.add(name)


class _Mark(str):
    """Where a value goes in a Prepared query's parameters."""

    def __new__(cls, name: str):
        mark = super().__new__(cls, "\x00" + name)
        mark.name = name
        return mark


def memo(convert: Callable, size: int = 4096) -> Callable:
    """`convert` kept per value (the least recently used forgotten past `size`): for pure
    conversions of a column's text to an immutable value (a UUID, a tuple). Only the
    conversion is kept; every row is still read."""
    return functools.lru_cache(maxsize=size)(convert)


def _as_is(value):
    return value


def _column(node) -> tuple[str, Callable | None]:
    """A selected column's name and the conversion of its value (None: as the driver gives it)."""
    target = node.node if isinstance(node, Alias) else node
    name = node._alias if isinstance(node, Alias) else node.name
    if not isinstance(target, Field):
        return name, None
    if isinstance(target, FieldAlias):  # a field of an aliased table: the field itself
        target = target.field
    field = target.rel_field if isinstance(target, ForeignKeyField) else target
    # Integers and strings come from the driver as Python has them: skip adapt().
    plain = isinstance(field, IntegerField | CharField | TextField)
    if plain and type(field).python_value is Field.python_value:
        return name, None
    if type(field) is BooleanField:  # its python_value is adapt, which is bool
        return name, bool
    if type(field) in (UUIDField, DateTimeField):  # immutable values, parsed from text
        return name, memo(target.python_value)
    return name, target.python_value
