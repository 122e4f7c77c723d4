"""Credential lifecycle: issue, regenerate (optionally with a grace period), revoke.

Every path that makes or ends a secret goes through here: the API, the pages
and the CLI. The plain secret is returned to the caller once and never kept,
except for export keys (Loco: retrievable at any time).
"""

import datetime
import uuid

from werkzeug.exceptions import Conflict

from . import accounts
from . import audit
from . import credentials
from . import db
from . import fields
from .clock import now
from .db import database
from .models import Credential
from .models import ExpiryNotice
from .models import Project
from .models import Secret
from .models import User

MAX_GRACE_DAYS = fields.GRACE_DAYS.high
MAX_RATE_LIMIT = fields.RATE_LIMIT.high  # requests per minute


class CredentialRevoked(Conflict):
    """A change to a credential that can no longer change: the pages' 409."""

    description = "The credential has been revoked; a revoked credential cannot change."


def changeable(credential: Credential | None) -> bool:
    """Can this credential still change (note, scopes, limits, secret, revocation)?

    The one rule: until it is revoked; an expired one can still be regenerated
    or revoked. Each face maps a refusal its own way: the pages answer 409
    (``still_changes``), the API shows no such credential (404, ``CHANGEABLE``).
    """
    return credential is not None and credential.revoked_at is None


CHANGEABLE = Credential.revoked_at.is_null()  # `changeable`, as a query's condition


def still_changes(credential: Credential | None) -> Credential:
    if not changeable(credential):
        raise CredentialRevoked()
    return credential


def _live(credential: Credential) -> Credential:
    """The credential's row, locked for this transaction; refused once it cannot change.

    Everything that changes a credential or its secrets takes this lock first,
    so that two regenerations, or a regeneration and a revoke, run one after
    the other and the second sees the first's secrets.
    """
    return still_changes(db.locked(Credential, credential.id))


def expiry(days: int | None) -> datetime.datetime | None:
    return None if days is None else now() + datetime.timedelta(days=days)


def issue(
    kind: str,
    user: User,
    note: str,
    *,
    scopes: list[str] | None = None,
    project: Project | None = None,
    expires_at: datetime.datetime | None = None,
    ip_allowlist: list[str] | None = None,
    rate_limit: int | None = None,
    actor: User | None = None,
) -> tuple[Credential, str]:
    if kind == "pat":  # a token works across projects; a service account belongs to one
        accounts.refuse_service_account(user, "cannot hold personal access tokens")
    with database.atomic():
        credential = Credential.create(
            kind=kind,
            user=user,
            project=project,
            note=note,
            scopes=scopes if kind == "pat" else None,
            expires_at=expires_at,
            ip_allowlist=ip_allowlist,
            rate_limit=rate_limit,
        )
        secret = _add_secret(credential)
        audit.record(
            "credential.create",
            actor or user,
            project=project.slug if project else None,
            target=str(credential.id),
            detail={"kind": kind, "note": note, "scopes": credential.scopes},
        )
    return credential, secret


EDITABLE = ("note", "scopes", "ip_allowlist", "rate_limit")


def update(credential: Credential, *, actor: User | None = None, **fields) -> None:
    """Change what a credential may do; its secrets stay as they are."""
    changed = {name: value for name, value in fields.items() if name in EDITABLE}
    if not changed:
        return
    with database.atomic():
        _live(credential)
        for name, value in changed.items():
            setattr(credential, name, value)
        credential.save(only=[getattr(Credential, name) for name in changed])
        audit.record(
            "credential.update",
            actor or credential.user_id,
            project=_project_slug(credential),
            target=str(credential.id),
            detail=changed,
        )


def regenerate(
    credential: Credential,
    *,
    expires_at: datetime.datetime | None | bool = False,
    grace_days: int = 0,
    until_first_use: bool = False,
    actor: User | None = None,
) -> str:
    """New secret; the old ones stop at once, or after grace_days (Stripe's roll).

    `until_first_use`: they stop sooner, at the new secret's first request
    (``end_grace``, called by auth), with grace_days as the ceiling.
    `expires_at` False keeps the credential's expiry; None removes it.
    """
    with database.atomic():
        _live(credential)
        moment = now()
        until = moment + datetime.timedelta(days=grace_days)
        # Old secrets keep their rows (so `scan` can still name them) but stop
        # at `until`; one already ending sooner keeps its earlier end.
        (
            Secret.update(expires_at=until, clear=None)
            .where(
                (Secret.credential == credential.id)
                & (Secret.expires_at.is_null() | (Secret.expires_at > until))
            )
            .execute()
        )
        # A secret waiting for its first use is an old secret now: its use ends nothing.
        Secret.update(ends_grace=False).where(
            (Secret.credential == credential.id) & Secret.ends_grace
        ).execute()
        if expires_at is not False:
            credential.expires_at = expires_at
            credential.save(only=[Credential.expires_at])
            # A new expiry re-arms the 7- and 1-day notices (tokenapp.notices).
            ExpiryNotice.delete().where(ExpiryNotice.credential == credential.id).execute()
        secret = _add_secret(credential, ends_grace=until_first_use and grace_days > 0)
        audit.record(
            "credential.regenerate",
            actor or credential.user_id,
            project=_project_slug(credential),
            target=str(credential.id),
            detail={
                "grace_days": grace_days,
                **({"until_first_use": True} if until_first_use else {}),
            },
        )
    return secret


def end_grace(credential_id: uuid.UUID, digest: str) -> None:
    """The first request of a secret regenerated "until first use": every other secret
    of its credential stops now. In the database, so every worker and node sees it
    on its next lookup; the guarded UPDATE makes one of racing first uses do it."""
    moment = now()
    with database.atomic():
        claimed = (
            Secret.update(ends_grace=False)
            .where((Secret.digest == digest) & Secret.ends_grace)
            .execute()
        )
        if not claimed:
            return
        (
            Secret.update(expires_at=moment)
            .where(
                (Secret.credential == credential_id)
                & (Secret.digest != digest)
                & (Secret.expires_at.is_null() | (Secret.expires_at > moment))
            )
            .execute()
        )
        audit.record(
            "credential.grace_end",
            None,
            target=str(credential_id),
            actor_name="first use of the new secret",
        )


def revoke(
    credential: Credential,
    *,
    actor: User | None = None,
    system: str | None = None,
    reason: str | None = None,
) -> bool:
    """Stop a credential for good. `system` names a non-user actor (e.g. "tokenapp scan").

    False, and nothing written or audited, when it was already revoked: two revocations at
    the same moment (two workers, two reports) stop it once and say so once.
    """
    with database.atomic():
        row = db.locked(Credential, credential.id)
        if row is not None and row.revoked_at is not None:
            credential.revoked_at = row.revoked_at  # revoked meanwhile: keep the first time
            return False
        credential.revoked_at = now()
        credential.save(only=[Credential.revoked_at])
        # The row stays (for the audit log and `scan`); its secrets can never match again.
        Secret.update(clear=None).where(Secret.credential == credential.id).execute()
        audit.record(
            "credential.revoke",
            None if system else actor or credential.user_id,
            project=_project_slug(credential),
            target=str(credential.id),
            detail={"reason": reason} if reason else None,
            actor_name=system,
        )
    return True


def export_secret(credential: Credential) -> str | None:
    """The export key's current secret, shown on its page at any time."""
    row = (
        Secret.select(Secret.clear)
        .where((Secret.credential == credential.id) & Secret.clear.is_null(False))
        .order_by(Secret.id.desc())
        .tuples()
        .first()
    )
    return row[0] if row else None


def grace_until(credential_id: uuid.UUID) -> datetime.datetime | None:
    """When the last rotated-out secret of a credential stops, if one still works."""
    row = (
        Secret.select(Secret.expires_at)
        .where((Secret.credential == credential_id) & (Secret.expires_at > now()))
        .order_by(Secret.expires_at.desc())
        .tuples()
        .first()
    )
    return row[0] if row else None


def _add_secret(credential: Credential, *, ends_grace: bool = False) -> str:
    secret = credentials.mint(credential.kind)
    Secret.create(
        credential=credential.id,
        ends_grace=ends_grace,
        digest=credentials.digest(secret),
        clear=secret if credential.kind == "export" else None,
        hint=credentials.hint(secret),
    )
    return secret


def _project_slug(credential: Credential) -> str | None:
    if credential.project_id is None:
        return None
    return Project.select(Project.slug).where(Project.id == credential.project_id).scalar()
