"""Rows to JSON-ready dicts. Secrets appear only where the caller passes one."""

import datetime

from ..models import Credential
from ..models import Document
from ..models import Membership
from ..models import expires_soon


def timestamp(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def token(credential: Credential, secret: str | None = None, grace_until=None) -> dict:
    body = {
        "id": str(credential.id),
        "note": credential.note,
        "scopes": credential.scopes,
        "expiration": timestamp(credential.expires_at),
        "created_at": timestamp(credential.created_at),
        "last_used": timestamp(credential.last_used),
        "state": credential.state,
        "expires_soon": expires_soon(credential.expires_at),
        "previous_secret_expires_at": timestamp(grace_until),
        "ip_allowlist": credential.ip_allowlist,
        "rate_limit": credential.rate_limit,
    }
    if secret is not None:
        body["token"] = secret
    return body


def key(credential: Credential, username: str, secret: str | None = None, grace_until=None) -> dict:
    body = {
        "id": str(credential.id),
        "kind": credential.kind,
        "label": credential.note,
        "user": username,
        "created_at": timestamp(credential.created_at),
        "last_used": timestamp(credential.last_used),
        "state": credential.state,
        "previous_secret_expires_at": timestamp(grace_until),
        "ip_allowlist": credential.ip_allowlist,
        "rate_limit": credential.rate_limit,
    }
    if secret is not None:
        body["key"] = secret
    return body


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
        "created_at": timestamp(membership.created_at),
    }
