"""Authorisation: effective access = scopes ∩ role ∩ read-only (DESIGN §2).

Routes declare what they need with ``@require(op)``; no handler checks
scopes, roles or read-only mode itself.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import current_app
from flask import g

from .auth import Principal
from .auth import challenge
from .db import Prepared
from .errors import Problem
from .models import Membership
from .models import Project
from .scopes import OPERATIONS
from .scopes import Catalogue

MEMBERS = "users"  # the entity that is the project's real member list
ROLE_OPERATIONS = {
    "owner": frozenset(OPERATIONS),
    "editor": frozenset(OPERATIONS),
    "viewer": frozenset({"read"}),
}


def catalogue() -> Catalogue:
    return current_app.extensions["tokenapp.scopes"]


def role_allows(role: str | None, entity: str, op: str) -> bool:
    if role is None:
        return False
    if entity == MEMBERS and op != "read":
        return role == "owner"
    return op in ROLE_OPERATIONS[role]


def refused_by(principal: Principal, role: str | None, entity: str, op: str) -> str | None:
    """Which layer refuses op on entity: "scope", "role", "read_only" or None."""
    if not catalogue().allows(principal.scopes, entity, op):
        return "scope"
    if not role_allows(role, entity, op):
        return "role"
    if principal.read_only and op != "read":
        return "read_only"
    return None


def explain(principal: Principal, role: str | None) -> dict[str, dict[str, str | None]]:
    """Per entity, each operation the catalogue knows for it -> None or the refusing layer.

    The one source for `verify?explain=1` and the token page's effective-access view.
    """
    possible = catalogue().grants(None)
    return {
        entity: {
            op: refused_by(principal, role, entity, op)
            for op in OPERATIONS
            if (entity, op) in possible
        }
        for entity in catalogue().entities
    }


@dataclass(frozen=True)
class Access:
    project: Project
    role: str


_membership = Prepared(
    lambda slug, user_id: (
        Project.select(Project.id, Membership.role)
        .join(Membership)
        .where((Project.slug == slug) & (Membership.user == user_id))
    ),
    "slug",
    "user_id",
)


def project_for(principal: Principal, slug: str) -> Access:
    """The project the principal may see, or 404 (never reveals others exist).

    A project key already knows its project and role (auth looked them up);
    a PAT costs one query for the project and the user's role in it.
    """
    if principal.is_project_key:
        if slug == principal.project_slug:
            return Access(Project(id=principal.project_id, slug=slug), principal.role)
    else:
        row = _membership.first(slug=slug, user_id=principal.user_id)
        if row is not None:
            return Access(Project(id=row["id"], slug=slug), row["role"])
    raise Problem(404, "Not Found", f"No project {slug!r} visible to this credential.")


def insufficient(principal: Principal, entity: str, op: str, layer: str) -> Problem:
    scope = catalogue().needed(entity, op) or ""
    reasons = {
        "scope": f"The credential's scopes do not allow {op} on {entity}; it needs {scope!r}.",
        "role": f"Your role in this project does not allow {op} on {entity}.",
        "read_only": "Export keys are read-only: only GET and HEAD are allowed.",
    }
    return Problem(
        403,
        "Insufficient scope",
        reasons[layer],
        kind="insufficient-scope",
        headers=challenge("insufficient_scope", scope=scope),
        scope=scope,
        refused_by=layer,
    )


def authorize(principal: Principal, access: Access, entity: str, op: str) -> None:
    layer = refused_by(principal, access.role, entity, op)
    if layer is not None:
        raise insufficient(principal, entity, op, layer)


def require(op: str, entity: str | None = None) -> Callable:
    """Declare what a project route needs; the entity defaults to the URL's collection.

    Puts the project and the caller's role on ``g.access`` before the handler runs.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(**kwargs):
            principal = g.principal
            access = project_for(principal, kwargs["project"])
            target = entity or kwargs["collection"]
            if target not in catalogue().entities:
                raise Problem(404, "Not Found", f"No collection {target!r}.")
            authorize(principal, access, target, op)
            g.access = access
            return view(**kwargs)

        return wrapper

    return decorator
