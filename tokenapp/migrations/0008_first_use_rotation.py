"""Rotation that ends on first use (issue 15): the new secret ends the old ones' grace."""

from peewee import BooleanField


def up(migrator, db):
    migrator.migrate(migrator.add_column("secret", "ends_grace", BooleanField(default=False)))
