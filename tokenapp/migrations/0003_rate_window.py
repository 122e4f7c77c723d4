"""Per-credential rate limits: one fixed-window counter row per credential per minute."""

from peewee import ForeignKeyField

from tokenapp.migrations._frozen import counter
from tokenapp.migrations._frozen import keys


def up(migrator, db):
    Base, _, Credential = keys(db)
    credential = ForeignKeyField(Credential, on_delete="CASCADE")
    RateWindow = counter(Base, "RateWindow", "credential", credential, "window_start")

    db.create_tables([RateWindow])
