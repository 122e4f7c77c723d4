"""Public revocation (issue 15): a per-address throttle shared by every worker and node,
and the notices that tell an owner a report stopped one of their credentials."""

from peewee import AutoField
from peewee import CharField
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

    class User(Base):
        id = AutoField()

    class Credential(Base):
        id = UUIDField(primary_key=True)

    class AddressWindow(Base):
        id = AutoField()
        address = CharField(max_length=45)
        window_start = DateTimeField()
        count = IntegerField(default=0)

        class Meta:
            indexes = ((("address", "window_start"), True),)

    class RevocationNotice(Base):
        id = AutoField()
        user = ForeignKeyField(User, on_delete="CASCADE")
        credential = ForeignKeyField(Credential, on_delete="CASCADE")
        reported_at = DateTimeField(index=True)
        delivered_at = DateTimeField(null=True)  # the webhook channel: None while pending

    db.create_tables([AddressWindow, RevocationNotice])
