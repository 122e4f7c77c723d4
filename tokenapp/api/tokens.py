"""Personal access tokens through the API (the Locoia document).

A token manages only its own user's tokens, and only tokens its own scopes
cover; it can never create or widen one beyond its own scopes or expiry.
"""

import datetime
import uuid

from flask import g
from flask import jsonify

from .. import lifecycle
from .. import usage
from ..access import catalogue
from ..access import insufficient
from ..auth import Principal
from ..errors import Problem
from ..models import Credential
from ..models import User
from ..validation import cidr_list
from ..validation import read_body
from ..validation import scope_list
from ..validation import text
from ..validation import whole_number
from . import bp
from .serializers import timestamp
from .serializers import token

ONE_DAY = datetime.timedelta(days=1)
EXPIRATION = whole_number(1, 3650, nullable=True)
GRACE = whole_number(0, lifecycle.MAX_GRACE_DAYS)
RATE_LIMIT = whole_number(1, lifecycle.MAX_RATE_LIMIT, nullable=True)


def _token_owner() -> Principal:
    principal: Principal = g.principal
    if principal.kind != "pat":
        raise Problem(
            403,
            "Personal access token required",
            "Project keys cannot manage personal access tokens; use a personal access token.",
            kind="insufficient-scope",
        )
    return principal


def _own_token(token_id: str) -> Credential:
    principal = _token_owner()
    try:
        key = uuid.UUID(token_id)
    except ValueError:
        key = None
    # A revoked token is gone from the API (DELETE then GET is 404, RFC 9110 §9.3.5);
    # the web token page and the audit log still show it.
    credential = key and Credential.get_or_none(
        (Credential.id == key)
        & (Credential.user == principal.user_id)
        & (Credential.kind == "pat")
        & Credential.revoked_at.is_null()
    )
    if not credential:
        raise Problem(
            404, "Not Found", f"No personal access token {token_id!r} (or it is revoked)."
        )
    return credential


def _within_scopes(principal: Principal, scopes: list[str]) -> None:
    missing = catalogue().grants(scopes) - catalogue().grants(principal.scopes)
    if missing:
        entity, op = sorted(missing)[0]
        raise insufficient(principal, entity, op, "scope")


def _expiry_within(principal: Principal, days: int | None) -> datetime.datetime | None:
    """The new expiry: `days` from now, never past the calling token's own.

    Days are whole: asking for as many days as the caller has left, rounded up,
    is granted and ends with the caller (so a 30-day token can make another
    "30-day" token); asking for more, or for none, is refused.
    """
    expires_at = lifecycle.expiry(days)
    if principal.expires_at is None:
        return expires_at
    if expires_at is None or expires_at - principal.expires_at >= ONE_DAY:
        # Like widening scopes, a well-formed request this credential may not make: 403.
        raise Problem(
            403,
            "Expiration beyond the credential's own",
            "A token cannot outlast the token that makes it "
            f"(which expires {principal.expires_at.isoformat()}Z).",
            kind="insufficient-scope",
        )
    return min(expires_at, principal.expires_at)


def _manageable(principal: Principal, credential: Credential) -> None:
    _within_scopes(principal, credential.scopes)
    if credential.revoked_at is not None:
        raise Problem(409, "Token revoked", "A revoked token cannot be changed.", kind="revoked")


@bp.post("/personal-access-tokens")
def create_token():
    """Create a token; the response is the only time its secret is shown."""
    principal = _token_owner()
    body = read_body(
        {
            "expiration": EXPIRATION,
            "scopes": scope_list(catalogue()),
            "note": text(1, 255),
            "ip_allowlist": cidr_list,
            "rate_limit": RATE_LIMIT,
        },
        required=("expiration", "scopes", "note"),
    )
    _within_scopes(principal, body["scopes"])
    expires_at = _expiry_within(principal, body["expiration"])
    credential, secret = lifecycle.issue(
        "pat",
        _user(principal),
        body["note"],
        scopes=body["scopes"],
        expires_at=expires_at,
        ip_allowlist=body.get("ip_allowlist"),
        rate_limit=body.get("rate_limit"),
    )
    return jsonify(token(credential, secret)), 201


@bp.get("/personal-access-tokens")
def list_tokens():
    """The user's live tokens (not revoked), newest first, never their secrets."""
    principal = _token_owner()
    rows = (
        Credential.select()
        .where(
            (Credential.user == principal.user_id)
            & (Credential.kind == "pat")
            & Credential.revoked_at.is_null()
        )
        .order_by(Credential.created_at.desc(), Credential.id)
    )
    return jsonify([token(row) for row in rows])


@bp.get("/personal-access-tokens/<token_id>")
def get_token(token_id: str):
    credential = _own_token(token_id)
    return jsonify(token(credential, grace_until=lifecycle.grace_until(credential.id)))


@bp.patch("/personal-access-tokens/<token_id>")
def update_token(token_id: str):
    """Change the note, scopes, IP allowlist or rate limit."""
    credential = _own_token(token_id)
    principal = g.principal
    _manageable(principal, credential)
    body = read_body(
        {
            "note": text(1, 255),
            "scopes": scope_list(catalogue()),
            "ip_allowlist": cidr_list,
            "rate_limit": RATE_LIMIT,
        }
    )
    if "scopes" in body:
        _within_scopes(principal, body["scopes"])
    lifecycle.update(credential, actor=_user(principal), **body)
    return jsonify(token(credential, grace_until=lifecycle.grace_until(credential.id)))


@bp.post("/personal-access-tokens/<token_id>/regenerate")
def regenerate_token(token_id: str):
    """New secret and expiry; the old secret stops at once, or after `grace` days."""
    credential = _own_token(token_id)
    principal = g.principal
    _manageable(principal, credential)
    body = read_body({"expiration": EXPIRATION, "grace": GRACE}, required=("expiration",))
    expires_at = _expiry_within(principal, body["expiration"])
    secret = lifecycle.regenerate(
        credential,
        expires_at=expires_at,
        grace_days=body.get("grace", 0),
        actor=_user(principal),
    )
    return jsonify(token(credential, secret, grace_until=lifecycle.grace_until(credential.id)))


@bp.get("/personal-access-tokens/<token_id>/usage")
def token_usage(token_id: str):
    """Requests per hour over the last 7 days (UTC hours, oldest first) and totals."""
    credential = _own_token(token_id)
    found = usage.report(credential.id)
    return jsonify(
        {
            "id": str(credential.id),
            "from": timestamp(found["from"]),
            "to": timestamp(found["to"]),
            "total": found["total"],
            "days": [{"day": day.isoformat(), "count": count} for day, count in found["days"]],
            "hours": [{"hour": timestamp(hour), "count": count} for hour, count in found["hours"]],
        }
    )


@bp.delete("/personal-access-tokens/<token_id>")
def delete_token(token_id: str):
    """Revoke the token at once; the row stays, shown as revoked."""
    credential = _own_token(token_id)
    principal = g.principal
    _within_scopes(principal, credential.scopes)
    lifecycle.revoke(credential, actor=_user(principal))
    return "", 204


def _user(principal: Principal) -> User:
    return User.get_by_id(principal.user_id)
