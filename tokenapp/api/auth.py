"""Who am I (`verify`) and may I (`check`, for nginx auth_request)."""

from flask import g
from flask import jsonify
from flask import make_response
from flask import request

from ..access import Access
from ..access import any_credential
from ..access import catalogue
from ..access import check as access_check
from ..access import explain
from ..access import visible_projects
from ..auth import Principal
from ..errors import invalid
from ..forward import original_request
from ..forward import own_query
from ..forward import rule_for
from ..forward import rules as forward_rules
from ..models import expires_soon
from ..scopes import InvalidScope
from . import bp
from .serializers import timestamp


@bp.get("/auth/verify")
@any_credential
def verify():
    """Describe the credential: its user, type, scopes, expiry and, for keys, project.

    With ``?explain=1``, also the operations it can perform in each project.
    """
    body = verify_body(g.principal)
    if request.args.get("explain") in ("1", "true"):
        body["access"] = {
            access.project.slug: _explain(g.principal, access)
            for access in visible_projects(g.principal)
        }
    return jsonify(body)


def verify_body(principal: Principal) -> dict:
    """verify's answer (without ?explain): the Flask view and the fast path send this."""
    return {
        "user": {
            "id": principal.user_id,
            "username": principal.username,
            "service_account": principal.service_account,
        },
        "credential": {
            "type": _type_name(principal.kind),
            "id": str(principal.credential_id),
            "scopes": list(principal.scopes) if principal.scopes is not None else None,
            "read_only": principal.read_only,
            "expires_at": timestamp(principal.expires_at),
            "expires_soon": expires_soon(principal.expires_at),
            "secret_expires_at": timestamp(principal.secret_expires_at),
        },
        "project": (
            {"slug": principal.project_slug, "role": principal.role}
            if principal.is_project_key
            else None
        ),
    }


@bp.get("/auth/check")
@any_credential  # access.check decides, from the query and the original method
def check():
    """204 when the original request may go through; else 401 or 403.

    For nginx ``auth_request``, Caddy ``forward_auth`` and Traefik ``forwardAuth``:
    `scope` names the entities, the original method (X-Original-Method,
    X-Forwarded-Method) the operation; ``access.check`` decides. With neither
    `project` nor `scope` in the query, the rules file picks them from the
    original request's host, path and method (forward.py). Answers with
    X-Auth-User and the credential.
    """
    args, query = request.args, request.environ.get("QUERY_STRING", "")
    decide_check(g.principal, args.get("project"), args.get("scope"), request.headers, query)
    response = make_response("", 204)
    response.headers.extend(check_headers(g.principal))
    return response


def decide_check(
    principal: Principal, project: str | None, scope: str | None, headers, query: str
) -> None:
    """check's decision, of plain values (the Flask view and the fast path): raises a Problem.

    `project` and `scope` come from the query (`query`, as sent); `headers` are the
    request's, by name (the original request a proxy names, forward.py).
    """
    original = original_request(headers)  # also refuses two different URIs or hosts
    if project is None and scope is None:
        rule = rule_for(original, forward_rules())
        if rule is not None:
            project, scope = rule.project, rule.scope
    else:
        own_query(original, query)  # the proxy's, not the client's
    if scope is not None:
        try:
            catalogue().validate(scope)
        except InvalidScope as exc:
            raise invalid([{"field": "scope", "message": str(exc)}]) from None
    access_check(principal, scope, project or principal.project_slug, original.methods)


def check_headers(principal: Principal) -> list[tuple[str, str]]:
    return [
        ("X-Auth-User", principal.username),
        ("X-Auth-Credential", str(principal.credential_id)),
        ("X-Auth-Credential-Type", _type_name(principal.kind)),
    ]


def _explain(principal: Principal, access: Access) -> dict:
    allowed, refused = {}, {}
    for entity, ops in explain(principal.scopes, access.role, principal.read_only).items():
        for op, layer in ops.items():
            if layer is None:
                allowed.setdefault(entity, []).append(op)
            else:
                refused.setdefault(entity, {})[op] = layer
    return {"role": access.role, "allowed": allowed, "refused": refused}


TYPE_NAMES = {"pat": "personal_access_token", "export": "export_key", "full": "full_key"}


def _type_name(kind: str) -> str:
    return TYPE_NAMES[kind]
