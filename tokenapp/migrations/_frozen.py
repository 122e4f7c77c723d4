"""What the migrations share: their base model, the tables they point at, one table shape.

FROZEN. A migration that has run on someone's database must build the same
tables for ever, so once released nothing in this module changes: a migration
that needs something else writes it out itself or gets a new helper beside
these. Migrations never import ``tokenapp.models``: that holds today's tables,
not those of their time. (``_frozen`` is not a migration: the runner loads
only files whose names start with a digit.)
"""

from peewee import AutoField
from peewee import DateTimeField
from peewee import Field
from peewee import IntegerField
from peewee import Model
from peewee import UUIDField


def base(db) -> type[Model]:
    """A migration's base model: bound to db, tables named from the class (rate_window)."""

    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    return Base


def keys(db) -> tuple[type[Model], type[Model], type[Model]]:
    """The base, and the tables later migrations point at, by their primary keys alone."""
    Base = base(db)

    class User(Base):
        id = AutoField()

    class Credential(Base):
        id = UUIDField(primary_key=True)

    return Base, User, Credential


def counter(Base: type[Model], name: str, key: str, field: Field, window: str) -> type[Model]:
    """A count per key per time window, one row each: id, key, window, count (default 0),
    unique on (key, window). Hourly usage and the rate and throttle windows."""
    meta = type("Meta", (), {"indexes": (((key, window), True),)})
    columns = {key: field, window: DateTimeField(), "count": IntegerField(default=0)}
    return type(name, (Base,), {"__module__": __name__, "id": AutoField(), **columns, "Meta": meta})
