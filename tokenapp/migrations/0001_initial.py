"""Users, projects, members, credentials and their secrets, documents."""

import datetime
import uuid

from peewee import AutoField
from peewee import BooleanField
from peewee import CharField
from peewee import DateTimeField
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import TextField
from peewee import UUIDField

from tokenapp.migrations._frozen import base


def up(migrator, db):
    Base = base(db)

    class User(Base):
        id = AutoField()
        username = CharField(max_length=64, unique=True)
        password_hash = CharField(max_length=100)
        is_admin = BooleanField(default=False)
        is_active = BooleanField(default=True)
        session_version = IntegerField(default=0)
        created_at = DateTimeField(default=datetime.datetime.utcnow)

    class Project(Base):
        id = AutoField()
        slug = CharField(max_length=64, unique=True)
        name = CharField(max_length=200)
        created_at = DateTimeField()

    class Membership(Base):
        id = AutoField()
        project = ForeignKeyField(Project, on_delete="CASCADE")
        user = ForeignKeyField(User, on_delete="CASCADE")
        role = CharField(max_length=10)
        created_at = DateTimeField()

        class Meta:
            indexes = ((("project", "user"), True),)

    class Credential(Base):
        id = UUIDField(primary_key=True, default=uuid.uuid4)
        kind = CharField(max_length=8)
        user = ForeignKeyField(User, on_delete="CASCADE")
        project = ForeignKeyField(Project, null=True, on_delete="CASCADE")
        note = CharField(max_length=255)
        scopes = TextField(null=True)
        created_at = DateTimeField()
        expires_at = DateTimeField(null=True)
        revoked_at = DateTimeField(null=True)
        last_used = DateTimeField(null=True)

    class Secret(Base):
        id = AutoField()
        credential = ForeignKeyField(Credential, on_delete="CASCADE")
        digest = CharField(max_length=64, unique=True)
        clear = CharField(max_length=80, null=True)
        hint = CharField(max_length=12)
        created_at = DateTimeField()
        expires_at = DateTimeField(null=True)

    class Document(Base):
        seq = AutoField()
        id = UUIDField(unique=True)
        project = ForeignKeyField(Project, on_delete="CASCADE")
        collection = CharField(max_length=40)
        body = TextField()
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            indexes = ((("project", "collection", "seq"), False),)

    class LoginFailure(Base):
        id = AutoField()
        key = CharField(max_length=120, index=True)
        at = DateTimeField(index=True)

    class Setting(Base):
        key = CharField(max_length=64, primary_key=True)
        value = TextField()

    db.create_tables(
        [User, Project, Membership, Credential, Secret, Document, LoginFailure, Setting]
    )
