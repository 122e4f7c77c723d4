"""Authorisation: every 403 of the API is decided here (DESIGN §2).

Effective access = scopes ∩ role ∩ read-only. Routes declare what they need
with ``@require(op, entity)``; ``/auth/check`` asks ``decide`` as ``require``
does; token management (``entity=TOKENS``) adds: only a PAT manages tokens, and
it sees, makes and changes only tokens within its own scopes, limits and expiry.
Every refusal is built by ``refuse``: 403, RFC 6750's challenge, ``refused_by``.
``auth`` owns the 401s.
"""

import datetime
import functools
import ipaddress
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from functools import wraps

from flask import current_app
from flask import g
from flask import request

from .auth import Principal
from .auth import challenge
from .db import Prepared
from .errors import Problem
from .models import Credential
from .models import Membership
from .models import Project
from .scopes import OPERATIONS
from .scopes import Catalogue
from .scopes import Grant

MEMBERS = "users"  # the entity that is the project's real member list
TOKENS = "personal-access-tokens"  # not a project entity: the caller's own PATs
PROJECT = "project"  # not an entity: the project itself, visible to its members
ROLE_OPERATIONS = {
    "owner": frozenset(OPERATIONS),
    "editor": frozenset(OPERATIONS),
    "viewer": frozenset({"read"}),
}
# The original request's method, as an operation (/auth/check). OPTIONS and
# any other method name no operation and are refused: a CORS preflight carries
# no credential (so it is a 401 anyway), and export keys pass GET/HEAD only.
METHOD_OPERATIONS = {
    "GET": "read",
    "HEAD": "read",
    "POST": "create",
    "PUT": "update",
    "PATCH": "update",
    "DELETE": "delete",
}
METHOD_HEADERS = ("X-Original-Method", "X-Forwarded-Method")  # nginx; Traefik, Caddy
# The values of a 403's `refused_by`: which rule refused.
REFUSALS = {
    "scope": "the credential's scopes",
    "role": "the user's role in the project",
    "read_only": "export keys read only",
    "method": "/auth/check: a method that names no operation",
    "project": "/auth/check: a project the credential cannot see",
    "credential": "only a personal access token manages tokens",
    "limits": "a token's limits only tighten",
    "expiry": "a token cannot outlast the token that makes it",
    "address": "the credential's allowed networks",
}
ANY_ROLE = "owner"  # no project named: the role does not narrow, scopes still do
ONE_DAY = datetime.timedelta(days=1)


def catalogue() -> Catalogue:
    return current_app.extensions["tokenapp.scopes"]


def role_allows(role: str | None, entity: str, op: str) -> bool:
    if role is None:
        return False
    if entity == MEMBERS and op != "read":
        return role == "owner"
    return op in ROLE_OPERATIONS[role]


def refused_by(
    scopes: Iterable[str] | None, role: str | None, read_only: bool, entity: str, op: str
) -> str | None:
    """Which layer refuses op on entity: "scope", "role", "read_only" or None."""
    if not catalogue().allows(scopes, entity, op):
        return "scope"
    if not role_allows(role, entity, op):
        return "role"
    if read_only and op != "read":  # the read-only rule, the one place it is written
        return "read_only"
    return None


def explain(
    scopes: Iterable[str] | None, role: str | None, read_only: bool = False
) -> dict[str, dict[str, str | None]]:
    """Per entity, each operation the catalogue knows for it -> None or the refusing layer.

    The one source for `verify?explain=1` and the token page's effective-access view.
    """
    possible = catalogue().grants(None)
    return {
        entity: {
            op: refused_by(scopes, role, read_only, entity, op)
            for op in OPERATIONS
            if (entity, op) in possible
        }
        for entity in catalogue().entities
    }


def refuse(
    layer: str,
    detail: str,
    *,
    scope: str = "",
    title: str = "Insufficient scope",
    kind: str = "insufficient-scope",
) -> Problem:
    """The one 403 of the API: RFC 6750's challenge and the refusing layer."""
    extra = {"scope": scope} if scope else {}
    return Problem(
        403,
        title,
        detail,
        kind=kind,
        headers=challenge("insufficient_scope", **extra),
        refused_by=layer,
        **extra,
    )


def insufficient(entity: str, op: str, layer: str) -> Problem:
    scope = catalogue().needed(entity, op) or ""
    reasons = {
        "scope": f"The credential's scopes do not allow {op} on {entity}; it needs {scope!r}.",
        "role": f"Your role in this project does not allow {op} on {entity}.",
        "read_only": "Export keys are read-only: only GET and HEAD are allowed.",
    }
    return refuse(layer, reasons[layer], scope=scope)


def decide(principal: Principal, role: str | None, wanted: Iterable[Grant]) -> None:
    """Refuse unless every (entity, op) wanted is allowed; the first refusal names its layer."""
    for entity, op in sorted(wanted):
        layer = refused_by(principal.scopes, role, principal.read_only, entity, op)
        if layer is not None:
            raise insufficient(entity, op, layer)


def decide_any(principal: Principal, role: str | None, op: str) -> None:
    """Refuse unless op is allowed on at least one entity (a check that names no scope)."""
    layers = ("scope", "role", "read_only")
    refusals = []
    for entity in catalogue().entities:
        layer = refused_by(principal.scopes, role, principal.read_only, entity, op)
        if layer is None:
            return
        refusals.append((-layers.index(layer), entity))
    raise insufficient(min(refusals)[1], op, layers[-min(refusals)[0]])


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


def require(op: str, entity: str | None = None) -> Callable:
    """Declare what a route needs; the entity defaults to the URL's collection.

    Project routes get ``g.access`` (the project and the caller's role; with
    ``entity=PROJECT`` seeing the project is enough); token routes
    (``entity=TOKENS``) get ``g.token`` when the URL names one.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(**kwargs):
            principal = g.principal
            if entity == TOKENS:
                g.token = _token_access(principal, op, kwargs.get("token_id"))
                return view(**kwargs)
            access = project_for(principal, kwargs["project"])
            target = entity or kwargs["collection"]
            if target != PROJECT:
                if target not in catalogue().entities:
                    raise Problem(404, "Not Found", f"No collection {target!r}.")
                decide(principal, access.role, [(target, op)])
            g.access = access
            return view(**kwargs)

        wrapper.requires = (op, entity)
        return wrapper

    return decorator


def any_credential(view: Callable) -> Callable:
    """Declare a route any valid credential may call (it answers within the credential)."""
    view.requires = None
    return view


def check(principal: Principal, scope: str | None, slug: str | None) -> None:
    """`/auth/check`: may the original request go through? The scope names the
    entities, the original method the operation: the credential must hold the
    scope and be allowed that operation on each of the scope's entities that
    can take it, within its role in the project. No scope: on some entity.
    """
    methods = [request.headers[h].strip().upper() for h in METHOD_HEADERS if h in request.headers]
    role = ANY_ROLE
    if slug:
        try:
            role = project_for(principal, slug).role
        except Problem:
            # For auth_request a 404 would become a 500 at nginx: refuse with 403.
            raise refuse("project", f"This credential has no access to project {slug!r}.") from None
    for method in methods or ["GET"]:  # every method a proxy names must pass
        op = METHOD_OPERATIONS.get(method)
        if op is None:
            raise refuse("method", f"No operation matches the method {method[:16]!r}.")
        if scope is None:
            decide_any(principal, role, op)
            continue
        held = catalogue().grants([scope])
        bare = catalogue().grants([scope.partition(":")[0]])
        acting = {(entity, op) for entity, _ in bare if (entity, op) in bare}
        if not acting:
            raise refuse("scope", f"{method} does not apply to anything {scope!r} names.")
        decide(principal, role, held | acting)


# Personal access tokens: a PAT manages its own user's tokens, within itself.


def _token_access(principal: Principal, op: str, token_id: str | None) -> Credential | None:
    if principal.kind != "pat":
        raise refuse(
            "credential",
            "Project keys cannot manage personal access tokens; use a personal access token.",
            title="Personal access token required",
        )
    if token_id is None:
        return None
    credential = _own_token(principal, token_id)
    covers(principal, credential.scopes)
    if op != "read":  # changing a token the caller could not have made would widen the caller
        within_limits(principal, {"ip_allowlist": credential.ip_allowlist,
                                  "rate_limit": credential.rate_limit})  # fmt: skip
    return credential


def _own_token(principal: Principal, token_id: str) -> Credential:
    # A revoked token is gone from the API (DELETE then GET is 404, RFC 9110 §9.3.5);
    # the web token page and the audit log still show it.
    credential = Credential.token_of(principal.user_id, token_id, live=True)
    if credential is None:
        raise Problem(
            404, "Not Found", f"No personal access token {token_id!r} (or it is revoked)."
        )
    return credential


def sees(principal: Principal, scopes: Iterable[str] | None) -> bool:
    return catalogue().covers(principal.scopes, scopes)


def covers(principal: Principal, scopes: Iterable[str] | None) -> None:
    """The caller's scopes allow everything `scopes` do: to see, make or change such a token."""
    missing = catalogue().grants(scopes) - catalogue().grants(principal.scopes)
    if missing:
        raise insufficient(*sorted(missing)[0], "scope")


def within_limits(principal: Principal, fields: dict) -> None:
    """Limits only tighten: every network within one of the caller's, a rate no higher."""
    if "ip_allowlist" in fields and principal.ip_allowlist:
        allowlist = fields["ip_allowlist"]
        if not allowlist or not all(_subnet(net, principal.ip_allowlist) for net in allowlist):
            raise refuse("limits", "Allowed networks must lie within this token's own.")
    if "rate_limit" in fields and principal.rate_limit is not None:
        rate = fields["rate_limit"]
        if rate is None or rate > principal.rate_limit:
            raise refuse(
                "limits",
                f"The rate limit must be at most this token's own ({principal.rate_limit}/min).",
            )


def grantable(
    principal: Principal, body: dict, expires_at: datetime.datetime | None | bool = False
) -> datetime.datetime | None | bool:
    """What a body asks a token to be, within the caller: scopes, limits, then expiry.

    Returns the expiry to set (``expires_at`` False: the body sets none).
    """
    if "scopes" in body:
        covers(principal, body["scopes"])
    within_limits(principal, body)
    return expires_at if expires_at is False else expiry_within(principal, expires_at)


def _subnet(network: str, allowlist: Iterable[str]) -> bool:
    net = ipaddress.ip_network(network, strict=False)
    for cidr in allowlist:
        outer = ipaddress.ip_network(cidr, strict=False)
        if net.version == outer.version and net.subnet_of(outer):
            return True
    return False


def expiry_within(
    principal: Principal, expires_at: datetime.datetime | None
) -> datetime.datetime | None:
    """The new expiry, never past the calling token's own.

    Days are whole: asking for as many days as the caller has left, rounded up,
    is granted and ends with the caller (so a 30-day token can make another
    "30-day" token); asking for more, or for none, is refused.
    """
    if principal.expires_at is None:
        return expires_at
    if expires_at is None or expires_at - principal.expires_at >= ONE_DAY:
        raise refuse(
            "expiry",
            "A token cannot outlast the token that makes it "
            f"(which expires {principal.expires_at.isoformat()}Z).",
            title="Expiration beyond the credential's own",
        )
    return min(expires_at, principal.expires_at)


def admit(principal: Principal, address: str | None) -> None:
    """The credential's allowed networks (checked once per API request, before limits)."""
    if principal.ip_allowlist and not _address_allowed(address, principal.ip_allowlist):
        raise refuse(
            "address",
            "This credential may not be used from your address.",
            title="Address not allowed",
            kind="address-not-allowed",
        )


@functools.lru_cache(maxsize=4096)
def _address_allowed(address: str | None, allowlist: tuple[str, ...]) -> bool:
    # Cached: parsing addresses and CIDRs costs more than the rest of a verify,
    # and a credential is used from the same few addresses.
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in allowlist)
