"""GET /api/v1/openapi.json (OpenAPI 3.1) and the docs page at /api/docs.

Paths and methods come from the app's URL map, summaries from the handlers'
docstrings, and everything else from OPERATIONS below: one line of facts per
endpoint. An /api/v1 route missing from OPERATIONS fails tests/test_openapi.py.
"""

import re
from collections.abc import Callable
from dataclasses import KW_ONLY
from dataclasses import dataclass
from dataclasses import field

from flask import current_app
from flask import jsonify
from flask import render_template

from .. import fields
from ..access import catalogue
from . import bp
from .openapi_members import member_schemas
from .openapi_params import DOC
from .openapi_params import EXPLAIN
from .openapi_params import ITEM
from .openapi_params import KEY
from .openapi_params import PROJECT
from .openapi_params import TOKEN
from .openapi_params import USERNAME
from .openapi_params import array
from .openapi_params import check_params
from .openapi_params import collection
from .openapi_params import list_params
from .openapi_schemas import nullable_int
from .openapi_schemas import ref
from .openapi_schemas import schemas

TITLE = "tokenapp API"
AUTH = (400, 401, 403, 429)  # 400: two credentials; 429: the credential's rate limit
BODY = (400, 413, 415, 422)  # malformed JSON, too large, not JSON, invalid fields
ERROR_TEXT = {
    400: "Malformed request (bad JSON, or more than one credential).",
    401: "Missing, unknown, expired or revoked credential (RFC 6750 challenge).",
    403: "The credential is valid but lacks the scope, role or write access needed, or "
    "asks for more than its own limits allow, or came over plain HTTP (`refused_by`).",
    404: "No such resource visible to this credential.",
    409: "Conflicts with the current state.",
    413: "The body is too large.",
    415: "The body is not application/json.",
    422: "Invalid fields; `errors` names each one.",
    429: "A rate limit (the credential's, or an address's) is spent; retry after Retry-After.",
    503: "The database is unreachable.",
}


ANY_BODY = "any"  # an optional body of any JSON


@dataclass(frozen=True)
class Op:
    """The facts of one endpoint the URL map and docstrings do not say."""

    tag: str
    params: Callable[[], list[dict]] | list = field(default_factory=list)
    _: KW_ONLY  # the rest by name: what each value means is said where it is given
    body: str | None = None  # a schema name, or ANY_BODY
    status: int = 200
    schema: str | dict | None = None  # a schema name or an inline schema
    errors: tuple[int, ...] = ()
    public: bool = False  # no credential: `security: []`, only its own errors (no 401/403)


OPERATIONS = {
    "api.verify": Op("auth", [EXPLAIN], schema="Verify"),
    "api.check": Op("auth", check_params, status=204, errors=(422,)),
    "api.create_token": Op("tokens", body="TokenCreate", status=201, schema="NewToken",
                           errors=BODY),
    "api.list_tokens": Op("tokens", schema=array("Token")),
    "api.get_token": Op("tokens", [TOKEN], schema="Token", errors=(404,)),
    "api.update_token": Op("tokens", [TOKEN], body="TokenUpdate", schema="Token",
                           errors=(404, 409, *BODY)),
    "api.regenerate_token": Op("tokens", [TOKEN], body="TokenRegenerate", schema="NewToken",
                               errors=(404, 409, *BODY)),
    "api.token_usage": Op("tokens", [TOKEN], schema="TokenUsage", errors=(404,)),
    "api.delete_token": Op("tokens", [TOKEN], status=204, errors=(404,)),
    "api.list_keys": Op("keys", [PROJECT], schema=array("Key"), errors=(404,)),
    "api.create_key": Op("keys", [PROJECT], body="KeyCreate", status=201, schema="NewKey",
                     errors=(404, *BODY)),
    "api.get_key": Op("keys", [PROJECT, KEY], schema="Key", errors=(404,)),
    "api.update_key": Op("keys", [PROJECT, KEY], body="KeyUpdate", schema="Key",
                         errors=(404, *BODY)),
    "api.regenerate_key": Op("keys", [PROJECT, KEY], body="KeyRegenerate", schema="NewKey",
                             errors=(404, *BODY)),
    "api.delete_key": Op("keys", [PROJECT, KEY], status=204, errors=(404,)),
    "api.list_projects": Op("projects", schema=array("Project")),
    "api.get_project": Op("projects", [PROJECT], schema="Project", errors=(404,)),
    "api.list_members": Op("members", [PROJECT], schema="Members", errors=(404,)),
    "api.get_member": Op("members", [PROJECT, USERNAME], schema="Member", errors=(404,)),
    "api.add_member": Op("members", [PROJECT], body="MemberAdd", status=201, schema="Member",
                        errors=(404, 409, *BODY)),
    "api.change_member": Op("members", [PROJECT, USERNAME], body="MemberChange", schema="Member",
                            errors=(404, 409, *BODY)),
    "api.remove_member": Op("members", [PROJECT, USERNAME], status=204, errors=(404, 409)),
    "api.list_documents": Op("documents", list_params, schema="Documents", errors=(404, 422)),
    "api.create_document": Op("documents", [PROJECT, collection], body="DocumentBody",
                              status=201, schema="Document", errors=(404, *BODY)),
    "api.get_document": Op("documents", ITEM, schema="Document", errors=(404,)),
    "api.replace_document": Op("documents", ITEM, body="DocumentBody", schema="Document",
                               errors=(404, *BODY)),
    "api.patch_document": Op("documents", ITEM, body="DocumentBody", schema="Document",
                             errors=(404, *BODY)),
    "api.delete_document": Op("documents", ITEM, status=204, errors=(404,)),
    "api.run_flow": Op("flows", [PROJECT, DOC], body=ANY_BODY, status=201, schema="Document",
                      errors=(404, *BODY)),
    "api.trigger_webhook": Op("flows", [PROJECT, DOC], body=ANY_BODY, status=201,
                              schema="Document", errors=(404, 409, *BODY)),
    "api.public_revoke_report": Op("credentials", body="RevokeReport", status=202,
                                   schema="RevokeAnswer", errors=(*BODY, 429), public=True),
    "api.openapi": Op("meta", schema={"type": "object"}, public=True),
    "healthz": Op("meta", schema="Health", public=True),
}  # fmt: skip


# A created document can be a flow: lead clients (and schemathesis' stateful phase) on to run it.
LINKS = {
    "api.create_document": {
        name: {
            "operationId": operation,
            "parameters": {"project": "$request.path.project", "doc_id": "$response.body#/id"},
        }
        for name, operation in (
            ("RunFlow", "run_flow_post"),
            ("TriggerWebhook", "trigger_webhook_post"),
        )
    }
}
SUMMARIES = {"healthz": "Liveness and database reachability; no credential."}


def _parameters(params) -> list[dict]:
    given = params() if callable(params) else params
    return [p() if callable(p) else p for p in given]  # a parameter the catalogue names


def _responses(endpoint: str, op: Op) -> dict:
    ok = {"description": "Success."}
    schema = ref(op.schema) if isinstance(op.schema, str) else op.schema
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    if op.status == 201 and schema == ref("Document"):
        ok["headers"] = {"Location": {"schema": {"type": "string"}, "required": True}}
    if endpoint == "api.check":  # answers for nginx with the user
        ok["headers"] = {"X-Auth-User": {"schema": {"type": "string"}, "required": True}}
    if endpoint in LINKS:
        ok["links"] = LINKS[endpoint]
    answers = {str(op.status): ok}
    codes = sorted({414, 503, *op.errors} if op.public else {*AUTH, *op.errors, 414})
    for code in codes:
        answers[str(code)] = {"$ref": f"#/components/responses/{code}"}
    return answers


def _operation(endpoint: str, method: str, view) -> dict:
    op = OPERATIONS[endpoint]
    doc = (view.__doc__ or "").strip()
    summary = SUMMARIES.get(endpoint) or doc.split("\n\n")[0].replace("\n", " ")
    summary = summary or endpoint.split(".")[-1].replace("_", " ").capitalize()
    operation = {
        "operationId": f"{endpoint.split('.')[-1]}_{method}",
        "tags": [op.tag],
        "summary": summary,
        "parameters": _parameters(op.params),
        "responses": _responses(endpoint, op),
    }
    if "\n\n" in doc:
        operation["description"] = doc.split("\n\n", 1)[1]
    if op.body:
        schema = {} if op.body == ANY_BODY else ref(op.body)
        operation["requestBody"] = {
            "required": op.body != ANY_BODY,
            "content": {"application/json": {"schema": schema}},
        }
    if op.public:
        operation["security"] = []
    return operation


def build_spec() -> dict:
    paths: dict[str, dict] = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint not in OPERATIONS:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        view = current_app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = _operation(rule.endpoint, method.lower(), view)
            paths.setdefault(path, {})[method.lower()] = operation
    problem = {"application/problem+json": {"schema": ref("Problem")}}
    challenge = {"schema": {"type": "string"}, "description": "RFC 6750 challenge."}
    responses = {str(c): {"description": t, "content": problem} for c, t in ERROR_TEXT.items()}
    responses["401"]["headers"] = {"WWW-Authenticate": {**challenge, "required": True}}
    responses["403"]["headers"] = {"WWW-Authenticate": challenge}
    # gunicorn answers this one itself, before the app, with its own HTML page.
    responses["414"] = {
        "description": "The request line is over the server's limit (gunicorn: 4094 bytes).",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
    responses["429"]["headers"] = {"Retry-After": {"schema": {"type": "string"}, "required": True}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": "1",
            "description": "Personal access tokens, project keys and project data. "
            "Errors are application/problem+json (RFC 9457).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"key": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Any tokenapp secret (tkp_, tke_, tkf_). "
                    "`Authorization: Loco <secret>` is accepted as well.",
                },
                "key": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "key",
                    "description": "The secret as ?key=; redacted from access logs.",
                },
            },  # fmt: skip
            "responses": responses,
            "schemas": member_schemas()
            | schemas(
                catalogue(),
                expiration={
                    **nullable_int(fields.EXPIRATION_DAYS.low, fields.EXPIRATION_DAYS.high),
                    "description": "Days to expiry; null: never.",
                },
                grace={
                    "type": "integer",
                    "minimum": fields.GRACE_DAYS.low,
                    "maximum": fields.GRACE_DAYS.high,
                },  # fmt: skip
                rate_limit=nullable_int(fields.RATE_LIMIT.low, fields.RATE_LIMIT.high),
            ),
        },
    }


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(build_spec())


def docs():
    """Swagger UI, served from static/vendor, for the spec above."""
    return render_template("api_docs.html", title=TITLE)


# /api/docs sits outside /api/v1 but keeps the blueprint's endpoint name, so the
# blueprint's credential check (which lets "api.docs" through) still applies.
bp.record_once(lambda state: state.app.add_url_rule("/api/docs", "api.docs", docs))
