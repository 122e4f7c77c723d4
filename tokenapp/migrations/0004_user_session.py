"""Server-side sessions: logout ends a session on every worker and node at once."""

from peewee import AutoField
from peewee import CharField
from peewee import DateTimeField
from peewee import ForeignKeyField
from peewee import Model


def up(migrator, db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        id = AutoField()

    class UserSession(Base):
        id = AutoField()
        digest = CharField(max_length=64, unique=True)
        user = ForeignKeyField(User, on_delete="CASCADE")
        created_at = DateTimeField()
        last_seen = DateTimeField(index=True)
        user_agent = CharField(max_length=200, null=True)
        address = CharField(max_length=45, null=True)
        ended_at = DateTimeField(null=True)

    db.create_tables([UserSession])
