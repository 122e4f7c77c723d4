"""Two-factor sign-in (TOTP, recovery codes, passkeys) and OpenID Connect identities.

Numbered 0009, after main's 0004-0008 (sessions, temporary passwords, public
revocation, first-use rotation), so that it runs after every migration on main.
"""

from peewee import AutoField
from peewee import CharField
from peewee import DateTimeField
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import TextField

from tokenapp.migrations._frozen import keys


def up(migrator, db):
    Base, User, _ = keys(db)

    class TwoFactor(Base):
        user = ForeignKeyField(User, primary_key=True, on_delete="CASCADE")
        secret = CharField(max_length=64)
        last_step = IntegerField(default=0)
        enabled_at = DateTimeField()

    class RecoveryCode(Base):
        id = AutoField()
        user = ForeignKeyField(User, on_delete="CASCADE")
        digest = CharField(max_length=64, unique=True)
        used_at = DateTimeField(null=True)

    class Passkey(Base):
        id = AutoField()
        user = ForeignKeyField(User, on_delete="CASCADE")
        credential_id = CharField(max_length=700, unique=True)
        public_key = TextField()
        sign_count = IntegerField(default=0)
        name = CharField(max_length=64)
        created_at = DateTimeField()
        last_used = DateTimeField(null=True)

    class ExternalIdentity(Base):
        id = AutoField()
        user = ForeignKeyField(User, on_delete="CASCADE")
        issuer = CharField(max_length=255)
        subject = CharField(max_length=255)
        created_at = DateTimeField()
        last_used = DateTimeField(null=True)

        class Meta:
            indexes = ((("issuer", "subject"), True),)

    db.create_tables([TwoFactor, RecoveryCode, Passkey, ExternalIdentity])
