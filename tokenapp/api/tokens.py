"""Personal access tokens through the API (the Locoia document).

Each route declares ``@require(op, TOKENS)``: only a PAT manages tokens, its
own user's, and only those within its own scopes and limits. What a body asks
for is checked by the same module (``access.grantable``) before it is saved.
"""

from dataclasses import astuple

from flask import g
from flask import jsonify

from .. import access
from .. import fields
from .. import lifecycle
from .. import policy
from .. import usage
from ..access import TOKENS
from ..access import catalogue
from ..access import require
from ..auth import Principal
from ..errors import invalid
from ..models import Credential
from ..validation import boolean
from ..validation import cidr_list
from ..validation import read_body
from ..validation import scope_list
from ..validation import text
from ..validation import whole_number
from . import acting_user
from . import bp
from .serializers import timestamp
from .serializers import token

EXPIRATION = whole_number(*astuple(fields.EXPIRATION_DAYS), nullable=True)
GRACE = whole_number(*astuple(fields.GRACE_DAYS))
RATE_LIMIT = whole_number(*astuple(fields.RATE_LIMIT), nullable=True)
NOTE = text(*astuple(fields.NOTE))
ROTATION = {"grace": GRACE, "grace_until_first_use": boolean}


def rotation(body: dict) -> dict:
    """regenerate()'s grace arguments from a body read with ROTATION."""
    first_use = body.get("grace_until_first_use", False)
    default = fields.GRACE_DAYS.high if first_use else 0
    return {"grace_days": body.get("grace", default), "until_first_use": first_use}


def _within_policy(days: int | None) -> None:
    refused = policy.refusal(days)
    if refused:
        raise invalid([{"field": "expiration", "message": refused}])


@bp.post("/personal-access-tokens")
@require("create", TOKENS)
def create_token():
    """Create a token; the response is the only time its secret is shown."""
    principal: Principal = g.principal
    body = read_body(
        {
            "expiration": EXPIRATION,
            "scopes": scope_list(catalogue()),
            "note": NOTE,
            "ip_allowlist": cidr_list,
            "rate_limit": RATE_LIMIT,
        },
        required=("expiration", "scopes", "note"),
    )
    access.own_limits(principal, body)
    _within_policy(body["expiration"])
    expires_at = access.grantable(principal, body, lifecycle.expiry(body["expiration"]))
    credential, secret = lifecycle.issue(
        "pat",
        acting_user(),
        body["note"],
        scopes=body["scopes"],
        expires_at=expires_at,
        ip_allowlist=body["ip_allowlist"],
        rate_limit=body["rate_limit"],
    )
    return jsonify(token(credential, secret)), 201


@bp.get("/personal-access-tokens")
@require("read", TOKENS)
def list_tokens():
    """The user's live tokens (not revoked) this token covers, newest first, never secrets."""
    principal: Principal = g.principal
    rows = Credential.tokens_of(principal.user_id).where(lifecycle.CHANGEABLE)
    return jsonify([token(row) for row in rows if access.sees(principal, row.scopes)])


@bp.get("/personal-access-tokens/<token_id>")
@require("read", TOKENS)
def get_token():
    return jsonify(token(g.token, grace_until=lifecycle.grace_until(g.token.id)))


@bp.patch("/personal-access-tokens/<token_id>")
@require("update", TOKENS)
def update_token():
    """Change the note, scopes, IP allowlist or rate limit."""
    credential, principal = g.token, g.principal
    body = read_body(
        {
            "note": NOTE,
            "scopes": scope_list(catalogue()),
            "ip_allowlist": cidr_list,
            "rate_limit": RATE_LIMIT,
        }
    )
    access.grantable(principal, body)
    lifecycle.update(credential, actor=acting_user(), **body)
    return jsonify(token(credential, grace_until=lifecycle.grace_until(credential.id)))


@bp.post("/personal-access-tokens/<token_id>/regenerate")
@require("update", TOKENS)
def regenerate_token():
    """New secret and expiry; the old secret stops at once, or after `grace` days.

    With ``"grace_until_first_use": true`` the old secret stops at the new one's
    first request, `grace` days (default 7) at the latest.
    """
    credential, principal = g.token, g.principal
    body = read_body(ROTATION | {"expiration": EXPIRATION}, required=("expiration",))
    _within_policy(body["expiration"])
    expires_at = access.grantable(principal, {}, lifecycle.expiry(body["expiration"]))
    secret = lifecycle.regenerate(
        credential, expires_at=expires_at, **rotation(body), actor=acting_user()
    )
    return jsonify(token(credential, secret, grace_until=lifecycle.grace_until(credential.id)))


@bp.get("/personal-access-tokens/<token_id>/usage")
@require("read", TOKENS)
def token_usage():
    """Requests per hour over the last 7 days (UTC hours, oldest first) and totals."""
    credential = g.token
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
@require("delete", TOKENS)
def delete_token():
    """Revoke the token at once; the row stays, shown as revoked."""
    lifecycle.revoke(g.token, actor=acting_user())
    return "", 204
