"""Rows to JSON-ready dicts. Secrets appear only where the caller passes one."""

import datetime
import functools

from ..models import Credential
from ..models import Document
from ..models import Membership
from ..models import User
from ..models import expires_soon


@functools.lru_cache(maxsize=4096)  # a datetime is immutable; a read shows two, a verify one
def timestamp(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _credential(credential: Credential, grace_until, own: dict, secret: dict) -> dict:
    """What a token and a key both show, their own fields, and the secret when there is one."""
    return {
        "id": str(credential.id),
        "created_at": timestamp(credential.created_at),
        "last_used": timestamp(credential.last_used),
        "state": credential.state,
        "expiration": timestamp(credential.expires_at),
        "expires_soon": expires_soon(credential.expires_at),
        "previous_secret_expires_at": timestamp(grace_until),
        "ip_allowlist": credential.ip_allowlist,
        "rate_limit": credential.rate_limit,
        **own,
        **{name: value for name, value in secret.items() if value is not None},
    }


def token(credential: Credential, secret: str | None = None, grace_until=None) -> dict:
    own = {
        "note": credential.note,
        "scopes": credential.scopes,
    }
    return _credential(credential, grace_until, own, {"token": secret})


def key(credential: Credential, holder: User, secret: str | None = None, grace_until=None) -> dict:
    own = {
        "kind": credential.kind,
        "label": credential.note,
        "user": holder.username,
        "service_account": holder.is_service_account,
    }
    return _credential(credential, grace_until, own, {"key": secret})


def document(doc: Document, creator: str | None = None) -> dict:
    body = dict(doc.body)
    body.update(
        id=str(doc.id),
        created_at=timestamp(doc.created_at),
        updated_at=timestamp(doc.updated_at),
        created_by=creator,
    )
    return body


def member(membership: Membership) -> dict:
    return {
        "id": membership.user.username,
        "username": membership.user.username,
        "role": membership.role,
        "service_account": membership.user.is_service_account,
        "created_at": timestamp(membership.created_at),
    }
