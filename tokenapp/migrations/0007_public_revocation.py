"""Public revocation (issue 15): a per-address throttle shared by every worker and node,
and the notices that tell an owner a report stopped one of their credentials."""

from peewee import AutoField
from peewee import CharField
from peewee import DateTimeField
from peewee import ForeignKeyField

from tokenapp.migrations._frozen import counter
from tokenapp.migrations._frozen import keys


def up(migrator, db):
    Base, User, Credential = keys(db)
    address = CharField(max_length=45)
    AddressWindow = counter(Base, "AddressWindow", "address", address, "window_start")

    class RevocationNotice(Base):
        id = AutoField()
        user = ForeignKeyField(User, on_delete="CASCADE")
        credential = ForeignKeyField(Credential, on_delete="CASCADE")
        reported_at = DateTimeField(index=True)
        delivered_at = DateTimeField(null=True)  # the webhook channel: None while pending

    db.create_tables([AddressWindow, RevocationNotice])
