"""Per-credential rate limits: one fixed-window counter row per credential per minute."""

from peewee import AutoField
from peewee import DateTimeField
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import Model
from peewee import UUIDField


def up(migrator, db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Credential(Base):
        id = UUIDField(primary_key=True)

    class RateWindow(Base):
        id = AutoField()
        credential = ForeignKeyField(Credential, on_delete="CASCADE")
        window_start = DateTimeField()
        count = IntegerField(default=0)

        class Meta:
            indexes = ((("credential", "window_start"), True),)

    db.create_tables([RateWindow])
