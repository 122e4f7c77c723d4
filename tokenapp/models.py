"""The tables, and the named queries on them."""

import datetime
import json
import uuid

from peewee import AutoField
from peewee import BooleanField
from peewee import CharField
from peewee import DateTimeField
from peewee import ForeignKeyField
from peewee import IntegerField
from peewee import TextField
from peewee import UUIDField

from . import fields
from .clock import now
from .db import BaseModel

ROLES = ("owner", "editor", "viewer")
KINDS = ("pat", "export", "full")
EXPIRY_WARNING = datetime.timedelta(days=7)


def expires_soon(expires_at: datetime.datetime | None) -> bool:
    """True within EXPIRY_WARNING of expiring (pages, banner and `verify` agree)."""
    return expires_at is not None and (moment := now()) < expires_at <= moment + EXPIRY_WARNING


class JSONField(TextField):
    def db_value(self, value):
        # allow_nan=False: NaN/Infinity would be stored as text no JSON parser reads back.
        # Depth needs no guard here: request bodies are bounded (validation.MAX_JSON_DEPTH).
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), allow_nan=False)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class Project(BaseModel):
    id = AutoField()
    slug = CharField(max_length=fields.SLUG.high, unique=True)
    name = CharField(max_length=fields.PROJECT_NAME.high)
    created_at = DateTimeField(default=now)


class User(BaseModel):
    id = AutoField()
    username = CharField(max_length=fields.USERNAME.high, unique=True)  # stored lower-case
    password_hash = CharField(max_length=100)
    is_admin = BooleanField(default=False)
    is_active = BooleanField(default=True)
    # Bumped on password change or deactivation: every older session ends.
    session_version = IntegerField(default=0)
    must_change_password = BooleanField(null=True)  # an admin set it: change at sign-in
    webhook_url = TextField(null=True)
    created_at = DateTimeField(default=now)
    # A service account (issue 15): the one project it belongs to; None for a person.
    service_project = ForeignKeyField(
        Project, null=True, backref="service_accounts", on_delete="CASCADE"
    )

    # flask-login's contract
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_service_account(self) -> bool:
        return self.service_project_id is not None


class Membership(BaseModel):
    id = AutoField()
    project = ForeignKeyField(Project, backref="memberships", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    role = CharField(max_length=10)
    created_at = DateTimeField(default=now)

    class Meta:
        indexes = ((("project", "user"), True),)

    @classmethod
    def role_of(cls, user_id: int, project_id: int) -> str | None:
        row = (
            cls.select(cls.role)
            .where((cls.user == user_id) & (cls.project == project_id))
            .tuples()
            .first()
        )
        return row[0] if row else None


class Credential(BaseModel):
    """A personal access token (kind pat) or a project key (export, full)."""

    id = UUIDField(primary_key=True, default=uuid.uuid4)
    kind = CharField(max_length=8)
    user = ForeignKeyField(User, backref="credentials", on_delete="CASCADE")
    project = ForeignKeyField(Project, null=True, backref="keys", on_delete="CASCADE")
    note = CharField(max_length=fields.NOTE.high)
    scopes = JSONField(null=True)  # None: every scope (project keys)
    created_at = DateTimeField(default=now)
    expires_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)
    last_used = DateTimeField(null=True)
    ip_allowlist = JSONField(null=True)  # list of CIDRs, None: any address
    rate_limit = IntegerField(null=True)  # requests per minute, None: unlimited

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now():
            return "expired"
        return "active"

    @classmethod
    def tokens_of(cls, user_id: int):
        """The user's personal access tokens, newest first."""
        where = (cls.user == user_id) & (cls.kind == "pat")
        return cls.select().where(where).order_by(cls.created_at.desc(), cls.id)

    @classmethod
    def token_of(cls, user_id: int, token_id: str) -> "Credential | None":
        """One of the user's tokens by its id as a URL gives it, or None."""
        try:
            key = uuid.UUID(token_id)
        except ValueError:
            return None
        return cls.tokens_of(user_id).where(cls.id == key).first()


class Secret(BaseModel):
    """One secret of a credential. Rotation with a grace period keeps two alive."""

    id = AutoField()
    credential = ForeignKeyField(Credential, backref="secrets", on_delete="CASCADE")
    digest = CharField(max_length=64, unique=True)  # SHA-256 hex
    clear = CharField(max_length=80, null=True)  # export keys only (Loco)
    hint = CharField(max_length=12)
    created_at = DateTimeField(default=now)
    expires_at = DateTimeField(null=True)  # set when rotated with a grace period
    ends_grace = BooleanField(default=False)  # its first use ends the others' grace at once


class Document(BaseModel):
    seq = AutoField()
    id = UUIDField(unique=True, default=uuid.uuid4)
    project = ForeignKeyField(Project, backref="documents", on_delete="CASCADE")
    collection = CharField(max_length=40)
    body = JSONField()
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=now)
    updated_at = DateTimeField(default=now)

    class Meta:
        indexes = ((("project", "collection", "seq"), False),)


class LoginFailure(BaseModel):
    id = AutoField()
    key = CharField(max_length=120, index=True)  # "user:<name>" or "addr:<ip>"
    at = DateTimeField(default=now, index=True)


class UserSession(BaseModel):
    """A signed-in browser: its cookie holds the id whose SHA-256 is kept here."""

    id = AutoField()
    digest = CharField(max_length=64, unique=True)
    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    created_at = DateTimeField(default=now)
    last_seen = DateTimeField(default=now, index=True)
    user_agent = CharField(max_length=200, null=True)
    address = CharField(max_length=45, null=True)
    ended_at = DateTimeField(null=True)  # logout, password change, deactivation


class Setting(BaseModel):
    key = CharField(max_length=64, primary_key=True)
    value = TextField()


class AuditEvent(BaseModel):
    id = AutoField()
    at = DateTimeField(default=now, index=True)
    actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
    actor_name = CharField(max_length=fields.USERNAME.high, null=True)
    action = CharField(max_length=40, index=True)
    project_slug = CharField(max_length=fields.SLUG.high, null=True, index=True)
    target = CharField(max_length=200, null=True)
    address = CharField(max_length=45, null=True)
    detail = JSONField(null=True)


class Usage(BaseModel):
    id = AutoField()
    credential = ForeignKeyField(Credential, backref="usage", on_delete="CASCADE")
    hour = DateTimeField()
    count = IntegerField(default=0)

    class Meta:
        indexes = ((("credential", "hour"), True),)


class ExpiryNotice(BaseModel):
    id = AutoField()
    credential = ForeignKeyField(Credential, on_delete="CASCADE")
    threshold = IntegerField()  # days
    sent_at = DateTimeField(default=now)

    class Meta:
        indexes = ((("credential", "threshold"), True),)


class RateWindow(BaseModel):
    """Requests of one rate-limited credential in one minute, shared by every worker and node."""

    id = AutoField()
    credential = ForeignKeyField(Credential, on_delete="CASCADE")
    window_start = DateTimeField()
    count = IntegerField(default=0)

    class Meta:
        indexes = ((("credential", "window_start"), True),)


class AddressWindow(BaseModel):
    """Requests of one client address in one minute (public revocation's throttle)."""

    id = AutoField()
    address = CharField(max_length=45)
    window_start = DateTimeField()
    count = IntegerField(default=0)

    class Meta:
        indexes = ((("address", "window_start"), True),)


class RevocationNotice(BaseModel):
    """A public report stopped a credential: shown to its owner, and sent on the webhook."""

    id = AutoField()
    user = ForeignKeyField(User, on_delete="CASCADE")
    credential = ForeignKeyField(Credential, on_delete="CASCADE")
    reported_at = DateTimeField(default=now, index=True)
    delivered_at = DateTimeField(null=True)


class TwoFactor(BaseModel):
    """A user's authenticator app (TOTP, RFC 6238): its secret and the last time-step used."""

    user = ForeignKeyField(User, primary_key=True, backref="two_factor", on_delete="CASCADE")
    secret = CharField(max_length=64)  # base32; needed in clear to compute codes
    last_step = IntegerField(default=0)  # a code of this step or older is refused (no replay)
    enabled_at = DateTimeField(default=now)


class RecoveryCode(BaseModel):
    """A single-use recovery code, kept as its SHA-256."""

    id = AutoField()
    user = ForeignKeyField(User, backref="recovery_codes", on_delete="CASCADE")
    digest = CharField(max_length=64, unique=True)
    used_at = DateTimeField(null=True)


class Passkey(BaseModel):
    """A WebAuthn credential (passkey or security key): its public key and signature counter."""

    id = AutoField()
    user = ForeignKeyField(User, backref="passkeys", on_delete="CASCADE")
    credential_id = CharField(max_length=700, unique=True)  # base64url
    public_key = TextField()  # base64url COSE key
    sign_count = IntegerField(default=0)
    name = CharField(max_length=fields.PASSKEY_NAME.high)
    created_at = DateTimeField(default=now)
    last_used = DateTimeField(null=True)


class ExternalIdentity(BaseModel):
    """A user as an OpenID Connect provider knows them: (issuer, sub) is stable, email is not."""

    id = AutoField()
    user = ForeignKeyField(User, backref="identities", on_delete="CASCADE")
    issuer = CharField(max_length=255)
    subject = CharField(max_length=255)
    created_at = DateTimeField(default=now)
    last_used = DateTimeField(null=True)

    class Meta:
        indexes = ((("issuer", "subject"), True),)
