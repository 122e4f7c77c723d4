"""Authentication: one path from an API request to a Principal, for every kind.

Carriers (DESIGN §5): ``Authorization: Bearer <secret>``, ``Authorization:
Loco <secret>`` and ``?key=<secret>``. Failures follow RFC 6750: no
credential is 401 with a bare challenge; a bad one is 401 ``invalid_token``.
"""

import datetime
import ipaddress
import json
import uuid
from dataclasses import dataclass
from dataclasses import field

from flask import Request
from flask import current_app
from peewee import JOIN

from . import authcache
from . import credentials
from . import lifecycle
from .clock import now
from .errors import Problem
from .frozen import frozen
from .models import Credential
from .models import Membership
from .models import Project
from .models import Secret
from .models import User
from .prepared import Prepared
from .prepared import memo

REALM = 'Bearer realm="tokenapp"'
SCHEMES = ("bearer", "loco")
LOOPBACK = frozenset({"127.0.0.1", "::1"})  # the common case, before parsing the address


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    credential_id: uuid.UUID
    kind: str  # "pat", "export" or "full"
    scopes: tuple[str, ...] | None  # None: every scope (project keys)
    project_id: int | None  # project keys only
    project_slug: str | None
    role: str | None  # project keys: the member's role in their project, now
    expires_at: datetime.datetime | None
    secret_expires_at: datetime.datetime | None  # set while a rotated secret is in grace
    rate_limit: int | None
    ip_allowlist: tuple[str, ...] | None = None  # checked by access.admit
    # (slug, project id, role): the user's membership of the project the request names,
    # read with the secret when principal_for was given the slug (access.project_for).
    member_of: tuple[str, int, str] | None = None
    service_account: bool = False  # the user is one (User.is_service_account)
    # The lookup's whole row, when principal_for read more with it (`read_with`).
    row: dict | None = field(default=None, compare=False, repr=False)

    @property
    def read_only(self) -> bool:
        return self.kind == "export"

    @property
    def is_project_key(self) -> bool:
        return self.kind in ("export", "full")


def challenge(error: str | None = None, **params: str) -> dict[str, str]:
    """The WWW-Authenticate header of RFC 6750 §3."""
    value = REALM
    if error:
        value += f', error="{error}"'
    for name, text in params.items():
        value += f', {name}="{text}"'
    return {"WWW-Authenticate": value}


def unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Invalid credential",
        detail,
        kind="invalid-token",
        headers=challenge("invalid_token", error_description=detail),
    )


def read_secret(request: Request) -> str | None:
    """The secret the request carries, or None. Two different secrets are a 400.

    A blank value (``?key=``, ``Bearer   ``) carries nothing, so it neither
    counts as a credential nor makes a second one.
    """
    return secret_from(request.headers.get("Authorization", ""), request.args.getlist("key"))


def secret_from(header: str, keys: list[str]) -> str | None:
    """read_secret of plain values: the Authorization header and the `key` parameters."""
    scheme, _, value = header.strip().partition(" ")
    carried = [value] if scheme.lower() in SCHEMES else []
    carried += keys
    found = {value.strip() for value in carried} - {""}
    if len(found) > 1:
        raise Problem(
            400,
            "More than one credential",
            "Send one credential per request, in the Authorization header.",
            kind="multiple-credentials",
            headers=challenge("invalid_request"),
        )
    return found.pop() if found else None


def authenticate(request: Request) -> Principal:
    """Return the request's Principal or raise a 401 Problem (access's 403 for plain HTTP).

    Never returns None: every API route needs a credential.
    """
    secret = read_secret(request)
    if secret is None:
        raise Problem(
            401,
            "Credential required",
            "Send a secret as 'Authorization: Bearer <secret>'.",
            kind="credential-required",
            headers=challenge(),
        )
    _require_transport(request)
    return principal_for(secret, _named_project(request))


def _named_project(request: Request) -> str | None:
    """The project the request names (its URL's, or check's ``?project=``): its membership
    comes with the secret's row, so the view's access.project_for sends no second query."""
    project = (request.view_args or {}).get("project")
    if project is None and request.endpoint == "api.check":
        project = request.args.get("project")
    return project if isinstance(project, str) else None


def principal_for(secret: str, slug: str | None = None, read_with=None) -> Principal:
    """The Principal of a secret, or a 401 Problem: the rules of DESIGN §5, of plain values.

    slug: the project the request names, when known before the view runs: a PAT's
    membership of it comes with the secret's row, as `member_of`. read_with: (a Prepared
    extending _lookup_in_query, its values), more the request needs, same statement: `row`.
    """
    try:
        parsed = credentials.parse(secret)
    except credentials.MalformedSecret:
        raise unauthorized("The credential is not a valid tokenapp secret.") from None
    digest = parsed.digest  # SHA-256 once
    if read_with is not None:
        row = read_with[0].first(digest=digest, slug=slug, **read_with[1])
    else:  # the lookup, or its row kept while nothing auth-relevant changed (authcache.py)
        row = authcache.first(_lookup_in if slug else _lookup, digest, slug)
    if row is None or row["kind"] != parsed.kind or not credentials.same(row["digest"], digest):
        raise unauthorized("The credential is unknown or has been revoked.")
    principal = _principal(row, slug, keep=read_with is not None)
    if row["ends_grace"]:  # the first use of a secret regenerated "until first use"
        lifecycle.end_grace(principal.credential_id, digest)
    return principal


def _lookup_query(digest):
    # One indexed query: the secret, its credential, its user and, for project
    # keys, the member's current role (a removed member's keys stop at once).
    return (
        Secret.select(
            Secret.digest,
            Secret.expires_at.alias("secret_expires_at"),
            Secret.ends_grace,
            Credential.id,
            Credential.kind,
            Credential.scopes,
            Credential.project,
            Credential.expires_at,
            Credential.revoked_at,
            Credential.ip_allowlist,
            Credential.rate_limit,
            User.id.alias("user_id"),
            User.username,
            User.is_active,
            User.service_project,
            Membership.role,
            Project.slug.alias("project_slug"),
        )
        .join(Credential)
        .join(User)
        .switch(Credential)
        .join(
            Membership,
            JOIN.LEFT_OUTER,
            on=(Membership.project == Credential.project) & (Membership.user == Credential.user),
        )
        .switch(Credential)
        .join(Project, JOIN.LEFT_OUTER)
        .where(Secret.digest == digest)
        .limit(1)
    )


ASKED = Project.alias("asked")  # the project the request names (read_with joins it)


def _lookup_in_query(digest, slug):
    # The lookup, and the credential's user's membership of the project at slug (as
    # projects.membership reads it): one statement, so the same snapshot.
    asked, member = ASKED, Membership.alias("member")
    return (
        _lookup_query(digest)
        .select_extend(asked.id.alias("asked_project"), member.role.alias("asked_role"))
        .switch(Credential)
        .join(asked, JOIN.LEFT_OUTER, on=(asked.slug == slug))
        .join(
            member,
            JOIN.LEFT_OUTER,
            on=(member.project == asked.id) & (member.user == Credential.user),
        )
    )


def _strings(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


# The scopes' JSON and the UUID are the costly part of converting a row (~4 µs of
# ~7): converted once per distinct text, a pure function of the stored value.
_lookup = Prepared(
    _lookup_query,
    convert={
        "scopes": memo(_strings),
        "ip_allowlist": memo(_strings),
        "id": memo(Credential.id.python_value),
    },
    digest=Secret.digest,
)
_lookup_in = Prepared(
    _lookup_in_query, convert=_lookup.convert, digest=Secret.digest, slug=Project.slug
)


def _principal(row: dict, slug: str | None = None, keep: bool = False) -> Principal:
    moment = now()
    if row["revoked_at"] is not None:
        raise unauthorized("The credential has been revoked.")
    if row["expires_at"] is not None and row["expires_at"] <= moment:
        raise unauthorized("The credential has expired.")
    if row["secret_expires_at"] is not None and row["secret_expires_at"] <= moment:
        raise unauthorized("The credential was regenerated; this secret has expired.")
    if not row["is_active"]:
        raise unauthorized("The credential's user is deactivated.")
    if row["kind"] != "pat" and row["role"] is None:
        raise unauthorized("The key's owner is no longer a member of its project.")
    asked = row.get("asked_role")
    return frozen(  # Principal(...) without frozen's __init__: ~2 µs less
        Principal,
        user_id=row["user_id"],
        username=row["username"],
        credential_id=row["id"],
        kind=row["kind"],
        scopes=row["scopes"],
        project_id=row["project"],
        project_slug=row["project_slug"],
        role=row["role"],
        expires_at=row["expires_at"],
        secret_expires_at=row["secret_expires_at"],
        rate_limit=row["rate_limit"],
        ip_allowlist=row["ip_allowlist"] or None,
        member_of=None if asked is None else (slug, row["asked_project"], asked),
        service_account=row["service_project"] is not None,  # as User.is_service_account
        row=row if keep else None,
    )


def _require_transport(request: Request) -> None:
    """Credentials travel over HTTPS, except from loopback or when allowed."""
    if not transport_allowed(
        request.is_secure, current_app.config["ALLOW_HTTP"], request.remote_addr
    ):
        from .access.rules import plain_http  # access builds every 403 (and imports auth)

        raise plain_http()


def transport_allowed(secure: bool, allow_http: bool, address: str | None) -> bool:
    if secure or allow_http or address in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False
