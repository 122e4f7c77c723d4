"""Authorisation: every 403 of the API is decided in this package (DESIGN §2).

Routes declare what they need with ``@require(op, entity)`` (or
``@any_credential``); ``/auth/check`` asks ``decide`` as ``require`` does.
The rules and the one refusal helper are in ``rules``; what a PAT may do with
other PATs in ``tokens``. ``auth`` owns the 401s.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import g

from .. import projects
from ..auth import Principal
from ..db import from_row
from ..errors import Problem
from ..models import Membership
from ..models import Project
from ..prepared import Prepared
from .rules import ANY_ROLE
from .rules import MEMBERS
from .rules import METHOD_OPERATIONS
from .rules import PROJECT
from .rules import REFUSALS
from .rules import TOKENS
from .rules import admit
from .rules import catalogue
from .rules import decide
from .rules import decide_any
from .rules import explain
from .rules import refuse
from .tokens import grantable
from .tokens import own_limits
from .tokens import sees
from .tokens import token_access

__all__ = [
    "MEMBERS",
    "PROJECT",
    "REFUSALS",
    "TOKENS",
    "Access",
    "admit",
    "any_credential",
    "authorise",
    "catalogue",
    "check",
    "explain",
    "grantable",
    "own_limits",
    "project_for",
    "require",
    "sees",
    "visible_projects",
]


@dataclass(frozen=True)
class Access:
    project: Project
    role: str


# projects.membership, the pages' query too, narrowed and compiled once (the hot path).
_membership = Prepared(
    lambda slug, user_id: projects.membership(slug, user_id).select(Project.id, Membership.role),
    slug=Project.slug,
    user_id=Membership.user,
)


def project_for(principal: Principal, slug: str) -> Access:
    """The project the principal may see, or 404 (never reveals others exist).

    A project key already knows its project and role (auth looked them up);
    a PAT costs one query for the project and the user's role in it, unless
    auth read that membership with the secret (`member_of`).
    """
    project_id, role = _seen(principal, slug)
    # Only id and slug are known: no defaults to make (a now() for created_at), ~2 µs.
    return Access(from_row(Project, {"id": project_id, "slug": slug}), role)


def _seen(principal: Principal, slug: str) -> tuple[int, str]:
    """project_for's decision: (project id, role), or its 404 (check needs only the role)."""
    if principal.is_project_key:
        if slug == principal.project_slug:
            return principal.project_id, principal.role
    elif principal.member_of is not None and principal.member_of[0] == slug:
        return principal.member_of[1:]  # read with the secret, same query
    else:
        row = _membership.first(slug=slug, user_id=principal.user_id)
        if row is not None:
            return row["id"], row["role"]
    raise Problem(404, "Not Found", f"No project {slug!r} visible to this credential.")


def visible_projects(principal: Principal) -> list[Access]:
    """The projects a credential sees and its role in each: a key its own, a PAT its user's."""
    rows = projects.visible_to(principal.user_id)
    if principal.is_project_key:
        rows = rows.where(Project.id == principal.project_id)
    return [Access(row, row.membership.role) for row in rows]


def require(op: str, entity: str | None = None) -> Callable:
    """Declare what a route needs; the entity defaults to the URL's collection.

    Project routes get ``g.access`` (the project and the caller's role; with
    ``entity=PROJECT`` seeing the project is enough); token routes
    (``entity=TOKENS``) get ``g.token`` when the URL names one. The URL's
    project and token id are consumed here: the handler reads g, not them.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(**kwargs):
            principal = g.principal
            if entity == TOKENS:
                g.token = token_access(principal, op, kwargs.pop("token_id", None))
                return view(**kwargs)
            # handlers read g.access, not the project
            g.access = authorise(
                principal, op, entity, kwargs.pop("project"), kwargs.get("collection")
            )
            return view(**kwargs)

        wrapper.requires = (op, entity)
        return wrapper

    return decorator


def authorise(
    principal: Principal, op: str, entity: str | None, slug: str, collection: str | None
) -> Access:
    """What ``@require(op, entity)`` decides on a project route, of plain values (the
    fast path asks it too): the project (or 404), then op on the entity or the URL's
    collection (404 for a collection the catalogue does not know)."""
    access = project_for(principal, slug)
    target = entity or collection
    if target != PROJECT:
        if target not in catalogue().entities:
            raise Problem(404, "Not Found", f"No collection {target!r}.")
        decide(principal, access.role, [(target, op)])
    return access


def any_credential(view: Callable) -> Callable:
    """Declare a route any valid credential may call (it answers within the credential)."""
    view.requires = None
    return view


def check(
    principal: Principal, scope: str | None, slug: str | None, methods: tuple[str, ...]
) -> None:
    """`/auth/check`: may the original request go through? The scope names the
    entities, the original method the operation: the credential must hold the
    scope and be allowed that operation on each of the scope's entities that
    can take it, within its role in the project. No scope: on some entity.
    `methods`: what the proxy named (forward.original_request reads METHOD_HEADERS).
    """
    role = ANY_ROLE
    if slug:
        try:
            role = _seen(principal, slug)[1]
        except Problem:
            # For auth_request a 404 would become a 500 at nginx: refuse with 403.
            raise refuse("project", f"This credential has no access to project {slug!r}.") from None
    for method in methods or ("GET",):  # every method a proxy names must pass
        op = METHOD_OPERATIONS.get(method)
        if op is None:
            raise refuse("method", f"No operation matches the method {method[:16]!r}.")
        if scope is None:
            decide_any(principal, role, op)
            continue
        wanted = _wanted(scope, op)
        if wanted is None:
            raise refuse("scope", f"{method} does not apply to anything {scope!r} names.")
        decide(principal, role, wanted)


def _wanted(scope: str, op: str) -> frozenset | None:
    """What check asks `decide` for a scope and an operation: the scope's grants and op on
    each of its entities that can take op (None: none can). A pure function of the
    catalogue: kept with decide's answers, the same frozenset each time (its hash too)."""
    kept = catalogue().decisions
    key = ("check", scope, op)
    wanted = kept.get(key, kept)
    if wanted is kept:
        # Tuples: grants keeps them as given (a list is sorted into a key on every call).
        held = catalogue().grants((scope,))
        bare = catalogue().grants((scope.partition(":")[0],))
        acting = {(entity, op) for entity, _ in bare if (entity, op) in bare}
        wanted = kept[key] = held | acting if acting else None
    return wanted
