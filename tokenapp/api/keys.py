"""Project keys through the API (issue 15); access/keys.py decides who may do what."""

from flask import g
from flask import jsonify

from .. import lifecycle
from ..access import Access
from ..access import any_credential
from ..access import project_for
from ..access.keys import KINDS
from ..access.keys import holder_for
from ..access.keys import key_expiry
from ..access.keys import key_manager
from ..access.keys import key_of
from ..access.keys import may_mint
from ..access.keys import new_key
from ..access.keys import own_key
from ..access.keys import visible_keys
from ..access.keys import within_limits
from ..auth import Principal
from ..fields import USERNAME
from ..models import Credential
from ..models import User
from ..validation import cidr_list
from ..validation import one_of
from ..validation import read_body
from ..validation import text
from . import acting_user
from . import bp
from .serializers import key as key_body
from .tokens import NOTE as LABEL  # a key's label: a token's note's bounds
from .tokens import RATE_LIMIT
from .tokens import ROTATION
from .tokens import rotation


def _manager(slug: str) -> tuple[Principal, Access]:
    principal: Principal = g.principal
    key_manager(principal)
    return principal, project_for(principal, slug)


def _key(principal: Principal, access: Access, key_id: str) -> Credential:
    return key_of(principal, access.project.id, access.role, key_id)


def _holders(rows) -> dict[int, User]:
    ids = {row.user_id for row in rows}
    return {user.id: user for user in User.select().where(User.id.in_(ids))} if ids else {}


@bp.get("/projects/<project>/keys")
@any_credential  # access/keys.py decides
def list_keys(project: str):
    """The caller's live keys in the project; for an owner, every member's. Never a secret."""
    principal, access = _manager(project)
    rows = visible_keys(access.project.id, access.role, principal.user_id)
    rows = list(
        rows.where(lifecycle.CHANGEABLE).order_by(Credential.created_at.desc(), Credential.id)
    )
    holders = _holders(rows)
    return jsonify([key_body(row, holders[row.user_id]) for row in rows])


@bp.post("/projects/<project>/keys")
@any_credential  # access/keys.py decides
def create_key(project: str):
    """Create a key of the caller's; the response is the only time a full key's secret is shown.

    An owner may give ``"user"``: a service account of the project the key acts as.
    Limits only tighten: `ip_allowlist` and `rate_limit` lie within the token's own
    (omitted: the token's own; else 403 `refused_by: limits`), and the key expires
    when the token does (`expiration`; none for a token that never expires).
    """
    principal, access = _manager(project)
    body = read_body(
        {
            "kind": one_of(KINDS),
            "label": LABEL,
            "user": text(USERNAME.low, USERNAME.high),
            "ip_allowlist": cidr_list,
            "rate_limit": RATE_LIMIT,
        },
        required=("kind", "label"),
    )
    holder = holder_for(principal, access.project.id, access.role, body.get("user"))
    may_mint(principal, body["kind"])
    expires_at = new_key(principal, body)
    credential, secret = lifecycle.issue(
        body["kind"],
        holder,
        body["label"],
        project=access.project,
        expires_at=expires_at,
        ip_allowlist=body["ip_allowlist"],
        rate_limit=body["rate_limit"],
        actor=acting_user(),
    )
    return jsonify(key_body(credential, holder, secret)), 201


@bp.get("/projects/<project>/keys/<key_id>")
@any_credential  # access/keys.py decides
def get_key(project: str, key_id: str):
    principal, access = _manager(project)
    credential = _key(principal, access, key_id)
    grace = lifecycle.grace_until(credential.id)
    return jsonify(key_body(credential, credential.user, None, grace))


# PUT as well (as for members): the path also matches /<collection>/<doc_id>, whose PUT
# every OPTIONS answer advertises; here it is the same partial update as PATCH.
@bp.route("/projects/<project>/keys/<key_id>", methods=["PUT", "PATCH"])
@any_credential  # access/keys.py decides
def update_key(project: str, key_id: str):
    """Change the label, IP allowlist or rate limit of the caller's own key (or, for an
    owner, a service account's).

    Limits only tighten: the key's limits, and the new ones, lie within the token's
    own (else 403 `refused_by: limits`).
    """
    principal, access = _manager(project)
    credential = _key(principal, access, key_id)
    own_key(principal, access.role, credential)
    body = read_body({"label": LABEL, "ip_allowlist": cidr_list, "rate_limit": RATE_LIMIT})
    within_limits(principal, body)
    if "label" in body:
        body["note"] = body.pop("label")
    lifecycle.update(credential, actor=acting_user(), **body)
    grace = lifecycle.grace_until(credential.id)
    return jsonify(key_body(credential, credential.user, None, grace))


@bp.post("/projects/<project>/keys/<key_id>/regenerate")
@any_credential  # access/keys.py decides
def regenerate_key(project: str, key_id: str):
    """New secret for the caller's own key (or, for an owner, a service account's); the old
    one stops at once, or after `grace` days.

    With ``"grace_until_first_use": true`` the old secret stops at the new one's
    first request, `grace` days (default 7) at the latest. Only a key within the
    token's limits (else 403 `refused_by: limits`); it then expires when the token does.
    """
    principal, access = _manager(project)
    credential = _key(principal, access, key_id)
    own_key(principal, access.role, credential)
    may_mint(principal, credential.kind)
    body = read_body(ROTATION)
    actor = acting_user()
    expires_at = key_expiry(principal)
    secret = lifecycle.regenerate(credential, expires_at=expires_at, **rotation(body), actor=actor)
    grace = lifecycle.grace_until(credential.id)
    return jsonify(key_body(credential, credential.user, secret, grace))


@bp.delete("/projects/<project>/keys/<key_id>")
@any_credential  # access/keys.py decides
def delete_key(project: str, key_id: str):
    """Revoke the key at once (the caller's own, or any for an owner); audited."""
    principal, access = _manager(project)
    credential = _key(principal, access, key_id)
    lifecycle.revoke(credential, actor=acting_user())
    return "", 204
