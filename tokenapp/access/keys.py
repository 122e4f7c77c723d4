"""Project keys through the API: the key pages' rules, decided here.

Only a personal access token manages keys, never a project key (403). A member
sees and revokes their own keys, an owner every key of the project; a key acts
as its member, so only they change or regenerate it (403 for an owner, as on
the pages). Whatever returns a new secret (create, regenerate) needs a token
whose scopes cover what the key will reach (every read for an export key,
everything for a full key): a narrow token cannot mint a wider credential.
"""

import uuid

from .. import lifecycle
from ..auth import Principal
from ..errors import Problem
from ..models import Credential
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


def own_key(principal: Principal, credential: Credential) -> None:
    if credential.user_id != principal.user_id:
        raise refuse(
            "role",
            "A key acts as its member: only they change or regenerate it (an owner may revoke it).",
            title="Not your key",
        )


def may_mint(principal: Principal, kind: str) -> None:
    reach = catalogue().grants(None)
    if kind == "export":
        reach = frozenset(grant for grant in reach if grant[1] == "read")
    missing = reach - catalogue().grants(principal.scopes)
    if missing:
        raise insufficient(*sorted(missing)[0], "scope")
