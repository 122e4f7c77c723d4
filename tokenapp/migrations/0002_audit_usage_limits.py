"""Audit log, hourly usage, expiry notices; per-credential limits; user webhook."""

from peewee import AutoField
from peewee import CharField
from peewee import DateTimeField
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import TextField

from tokenapp.migrations._frozen import counter
from tokenapp.migrations._frozen import keys


def up(migrator, db):
    Base, User, Credential = keys(db)

    class AuditEvent(Base):
        id = AutoField()
        at = DateTimeField(index=True)
        actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
        actor_name = CharField(max_length=64, null=True)
        action = CharField(max_length=40, index=True)
        project_slug = CharField(max_length=64, null=True, index=True)
        target = CharField(max_length=200, null=True)
        address = CharField(max_length=45, null=True)
        detail = TextField(null=True)

    usage = ForeignKeyField(Credential, on_delete="CASCADE")
    Usage = counter(Base, "Usage", "credential", usage, "hour")

    class ExpiryNotice(Base):
        id = AutoField()
        credential = ForeignKeyField(Credential, on_delete="CASCADE")
        threshold = IntegerField()
        sent_at = DateTimeField()

        class Meta:
            indexes = ((("credential", "threshold"), True),)

    db.create_tables([AuditEvent, Usage, ExpiryNotice])
    migrator.migrate(
        migrator.add_column("credential", "ip_allowlist", TextField(null=True)),
        migrator.add_column("credential", "rate_limit", IntegerField(null=True)),
        migrator.add_column("user", "webhook_url", TextField(null=True)),
    )
