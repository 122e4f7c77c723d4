"""A password an admin set must be changed at the next sign-in."""

from peewee import BooleanField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("user", "must_change_password", BooleanField(null=True)),
    )
