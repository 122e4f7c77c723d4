"""Project keys through the API: the key pages' rules, decided here.

Only a personal access token manages keys, never a project key (403). A member
sees and revokes their own keys, an owner every key of the project; a key acts
as its member, so only they create, change or regenerate it (403 for an owner,
as on the pages) -- except a service account's keys, which its project's owners
manage (``acts_for``: it cannot sign in to do so itself). Whatever returns a new
secret (create, regenerate) needs a token whose scopes cover what the key will
reach (every read for an export key, everything for a full key): a narrow token
cannot mint a wider credential.
"""

import uuid

from .. import lifecycle
from ..auth import Principal
from ..errors import Problem
from ..models import Credential
from ..models import Membership
from ..models import User
from .rules import catalogue
from .rules import insufficient
from .rules import refuse

KINDS = ("export", "full")


def key_manager(principal: Principal) -> None:
    if principal.kind != "pat":
        raise refuse(
            "credential",
            "Project keys cannot manage project keys; use a personal access token.",
            title="Personal access token required",
        )


def key_of(principal: Principal, project_id: int, role: str, key_id: str) -> Credential:
    """A live key of the project: the caller's own, or any for an owner; else 404."""
    try:
        wanted = uuid.UUID(key_id)
    except ValueError:
        wanted = None
    visible = (
        (Credential.id == wanted)
        & (Credential.project == project_id)
        & Credential.kind.in_(KINDS)
        & lifecycle.CHANGEABLE
    )
    if role != "owner":
        visible &= Credential.user == principal.user_id
    credential = wanted and Credential.get_or_none(visible)
    if not credential:
        raise Problem(404, "Not Found", f"No project key {key_id!r} (or it is revoked).")
    return credential


def acts_for(role: str | None, actor_id: int, holder: User, project_id: int) -> bool:
    """May this person create, change or regenerate keys that act as `holder` (and read an
    export key's secret)? Their own; and an owner, those of the project's service accounts.
    The one rule for the API and the pages."""
    if holder.id == actor_id:
        return True
    return role == "owner" and holder.service_project_id == project_id


def own_key(principal: Principal, role: str, credential: Credential) -> None:
    if not acts_for(role, principal.user_id, credential.user, credential.project_id):
        raise refuse(
            "role",
            "A key acts as its member: only they change or regenerate it (an owner may revoke "
            "it, and manages a service account's).",
            title="Not your key",
        )


def member_named(project_id: int, username: str) -> User | None:
    return (
        User.select()
        .join(Membership)
        .where((Membership.project == project_id) & (User.username == username.strip().lower()))
        .first()
    )


def holder_for(principal: Principal, project_id: int, role: str, username: str | None) -> User:
    """Whom a new key acts as: the caller, or (for an owner) a service account of the project."""
    if username is None:
        return User.get_by_id(principal.user_id)
    holder = member_named(project_id, username)
    if holder is None:
        raise Problem(404, "Not Found", f"No member {username!r} in this project.")
    if not acts_for(role, principal.user_id, holder, project_id):
        raise refuse(
            "role",
            "A key acts as its member: you create keys for yourself or, as an owner, "
            "for a service account of the project.",
            title="Not your key",
        )
    return holder


def may_mint(principal: Principal, kind: str) -> None:
    reach = catalogue().grants(None)
    if kind == "export":
        reach = frozenset(grant for grant in reach if grant[1] == "read")
    missing = reach - catalogue().grants(principal.scopes)
    if missing:
        raise insufficient(*sorted(missing)[0], "scope")
