"""Server-side sessions: logout ends a session on every worker and node at once."""

from peewee import AutoField
from peewee import CharField
from peewee import DateTimeField
from peewee import ForeignKeyField

from tokenapp.migrations._frozen import keys


def up(migrator, db):
    Base, User, _ = keys(db)

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
