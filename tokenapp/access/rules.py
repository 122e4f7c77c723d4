"""The rules of effective access (DESIGN §2) and the one way a refusal is built.

Effective access = scopes ∩ role ∩ read-only: ``refused_by`` says which layer
refuses, ``decide`` raises the first refusal; ``refuse`` builds every 403 of
the API (RFC 6750's challenge and ``refused_by``).
"""

import datetime
import functools
import ipaddress
from collections.abc import Iterable

from flask.globals import _cv_app

from ..auth import Principal
from ..auth import challenge
from ..errors import Problem
from ..scopes import OPERATIONS
from ..scopes import Catalogue
from ..scopes import Grant

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
    "limits": "a token's limits only tighten, for the tokens and keys it makes or changes",
    "expiry": "a token cannot outlast the token that makes it",
    "address": "the credential's allowed networks",
    "rules": "/auth/check: no rule of TOKENAPP_FORWARD_RULES covers the request",
    "original": "/auth/check: X-Original-* and X-Forwarded-* name different requests, or "
    "the check's query is the client's own",
    "transport": "credentials travel over HTTPS (DESIGN §5), checked before the secret is read",
}
ANY_ROLE = "owner"  # no project named: the role does not narrow, scopes still do
ONE_DAY = datetime.timedelta(days=1)
UNDECIDED = object()
MAX_DECISIONS = 4096  # kept answers of decide, per catalogue, before they are dropped


def catalogue() -> Catalogue:
    # The app context's variable, not the current_app proxy: a check asks ~7 times.
    return _cv_app.get().app.extensions["tokenapp.scopes"]


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
    challenged: bool = True,
) -> Problem:
    """The one 403 of the API: the refusing layer and RFC 6750's challenge (not for the
    transport rule: no credential was weighed)."""
    extra = {"scope": scope} if scope else {}
    headers = challenge("insufficient_scope", **extra) if challenged else None
    return Problem(403, title, detail, kind=kind, headers=headers, refused_by=layer, **extra)


def plain_http() -> Problem:
    """The transport rule's 403 (auth raises it before reading the secret)."""
    return refuse(
        "transport",
        "Credentials are accepted only over HTTPS. Regenerate a secret that was sent in clear.",
        title="HTTPS required",
        kind="https-required",
        challenged=False,
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
    wanted = frozenset(wanted)
    # refused_by is a pure function of the catalogue and these values: its answer is kept
    # on the catalogue (a check asks it ~5 times per request). The scopes and role are
    # the ones read with the secret for this request; nothing of a credential is kept.
    decisions = catalogue().decisions
    key = (principal.scopes, role, principal.read_only, wanted)
    refusal = decisions.get(key, UNDECIDED)
    if refusal is UNDECIDED:
        refusal = _first_refusal(principal.scopes, role, principal.read_only, wanted)
        if len(decisions) >= MAX_DECISIONS:
            decisions.clear()
        decisions[key] = refusal
    if refusal is not None:
        raise insufficient(*refusal)


def _first_refusal(
    scopes: tuple[str, ...] | None, role: str | None, read_only: bool, wanted: frozenset[Grant]
) -> tuple[str, str, str] | None:
    for entity, op in sorted(wanted):
        layer = refused_by(scopes, role, read_only, entity, op)
        if layer is not None:
            return entity, op, layer
    return None


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
