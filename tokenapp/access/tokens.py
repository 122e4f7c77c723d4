"""Personal access tokens: a PAT manages its own user's tokens, within itself.

It sees (lists, reads) only tokens its scopes cover; it changes, regenerates
or deletes only tokens it could have made (scopes and limits within its own);
what it asks a token to be must lie within it too: scopes, limits, expiry.
"""

import datetime
import ipaddress
from collections.abc import Iterable

from .. import lifecycle
from ..auth import Principal
from ..errors import Problem
from ..models import Credential
from .rules import ONE_DAY
from .rules import catalogue
from .rules import insufficient
from .rules import refuse


def token_access(principal: Principal, op: str, token_id: str | None) -> Credential | None:
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
        holds(principal, credential)
    return credential


def _own_token(principal: Principal, token_id: str) -> Credential:
    # A token that can no longer change (revoked) is gone from the API (DELETE then GET
    # is 404, RFC 9110 §9.3.5); the web token page and the audit log still show it.
    credential = Credential.token_of(principal.user_id, token_id)
    if not lifecycle.changeable(credential):
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


def holds(principal: Principal, credential: Credential) -> None:
    """The credential's limits lie within the caller's: it may change or regenerate it."""
    within_limits(principal, {"ip_allowlist": credential.ip_allowlist,
                              "rate_limit": credential.rate_limit})  # fmt: skip


def own_limits(principal: Principal, body: dict) -> dict:
    """Omitted limits are the caller's own: what a limited token makes is limited too."""
    body.setdefault("ip_allowlist", principal.ip_allowlist and list(principal.ip_allowlist))
    body.setdefault("rate_limit", principal.rate_limit)
    return body


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
