"""The credentials inventory: every PAT and project key of the instance, filtered.

One question with one home ("which credentials match these filters?"), asked
by the admin page, its CSV/JSONL export and its bulk revoke.
"""

import datetime
from dataclasses import dataclass

from peewee import JOIN

from .clock import now
from .fields import EXPIRATION_DAYS
from .models import Credential
from .models import Project
from .models import User

KINDS = ("pat", "export", "full")
STATES = ("active", "expired", "revoked")
SORTS = {
    "created": Credential.created_at.desc(),
    "last_used": Credential.last_used.asc(nulls="first"),
    "expires": Credential.expires_at.asc(nulls="last"),
    "user": User.username.asc(),
}
MAX_DAYS = EXPIRATION_DAYS.high  # the filters' days: no token expires further out


@dataclass(frozen=True)
class Filters:
    user: str = ""
    project: str = ""
    kind: str = ""
    state: str = ""
    expiring_within: int | None = None  # days
    unused_for: int | None = None  # days; never used counts from creation
    sort: str = "created"


def search(filters: Filters):
    """Credentials (with their user and project joined) matching every filter given."""
    moment = now()
    query = (
        Credential.select(Credential, User, Project)
        .join(User)
        .switch(Credential)
        .join(Project, JOIN.LEFT_OUTER)
    )
    if filters.user:
        query = query.where(User.username == filters.user.strip().lower())
    if filters.project:
        query = query.where(Project.slug == filters.project.strip().lower())
    if filters.kind:
        query = query.where(Credential.kind == filters.kind)
    live = Credential.revoked_at.is_null() & (
        Credential.expires_at.is_null() | (Credential.expires_at > moment)
    )
    if filters.state == "active":
        query = query.where(live)
    elif filters.state == "revoked":
        query = query.where(Credential.revoked_at.is_null(False))
    elif filters.state == "expired":
        query = query.where(Credential.revoked_at.is_null() & (Credential.expires_at <= moment))
    if filters.expiring_within is not None:
        horizon = moment + datetime.timedelta(days=filters.expiring_within)
        query = query.where(live & (Credential.expires_at <= horizon))
    if filters.unused_for is not None:
        before = moment - datetime.timedelta(days=filters.unused_for)
        query = query.where(
            (Credential.last_used < before)
            | (Credential.last_used.is_null() & (Credential.created_at < before))
        )
    return query.order_by(SORTS.get(filters.sort, SORTS["created"]), Credential.id)


def as_dict(credential: Credential) -> dict:
    """What the inventory shows and exports of a credential: never a secret."""

    def when(value):
        return None if value is None else value.isoformat(timespec="seconds") + "Z"

    return {
        "id": str(credential.id),
        "kind": credential.kind,
        "user": credential.user.username,
        "project": credential.project.slug if credential.project_id else None,
        "note": credential.note,
        "scopes": credential.scopes,
        "state": credential.state,
        "created_at": when(credential.created_at),
        "expires_at": when(credential.expires_at),
        "last_used": when(credential.last_used),
        "revoked_at": when(credential.revoked_at),
    }
