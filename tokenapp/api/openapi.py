"""GET /api/v1/openapi.json (OpenAPI 3.1) and the docs page at /api/docs.

Paths and methods come from the app's URL map, summaries from the handlers'
docstrings, and everything else from OPERATIONS below: one line of facts per
endpoint. An /api/v1 route missing from OPERATIONS fails tests/test_openapi.py.
"""

import re

from flask import current_app
from flask import jsonify
from flask import render_template

from .. import lifecycle
from .. import projects
from ..access import MEMBERS
from ..access import catalogue
from . import bp
from .openapi_schemas import nullable_int
from .openapi_schemas import ref
from .openapi_schemas import schemas

TITLE = "tokenapp API"
AUTH = (400, 401, 403, 429)  # 400: two credentials; 429: the credential's rate limit
BODY = (400, 413, 415, 422)  # malformed JSON, too large, not JSON, invalid fields
ERROR_TEXT = {
    400: "Malformed request (bad JSON, or more than one credential).",
    401: "Missing, unknown, expired or revoked credential (RFC 6750 challenge).",
    403: "The credential is valid but lacks the scope, role or write access needed.",
    404: "No such resource visible to this credential.",
    409: "Conflicts with the current state.",
    413: "The body is too large.",
    415: "The body is not application/json.",
    422: "Invalid fields; `errors` names each one.",
    429: "The credential's rate limit is spent; retry after Retry-After seconds.",
    503: "The database is unreachable.",
}


def _path(name, description, schema=None):
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}  # fmt: skip


def _query(name, description, schema):
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


# The slug's own syntax (projects.SLUG): any other string is refused (404 or 403), and
# NUL, which no slug holds, with a 400 before any lookup (transport.refuse_nul).
SLUG = {"type": "string", "pattern": f"^{projects.SLUG.pattern}$"}
PROJECT = _path("project", "The project's slug.", SLUG)
TOKEN = _path("token_id", "The token's id.", {"type": "string", "format": "uuid"})
USERNAME = _path(
    "username",
    "A member's username (case-insensitive).",
    {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
)
DOC = _path("doc_id", "The document's id.", {"type": "string", "format": "uuid"})


def _collection() -> dict:
    # Every entity of the catalogue except the member list, which has its own routes.
    names = [e for e in catalogue().entities if e != MEMBERS]
    return _path("collection", "A collection of the scope catalogue.", {"enum": names})


# endpoint: (tag, parameters, request body schema or None, success status, schema, errors)
OPERATIONS = {
    "api.verify": (
        "auth",
        [
            _query(
                "explain",
                "1 or true: list what the credential can do per project.",
                {"type": "string"},
            )
        ],
        None,
        200,
        "Verify",
        (),
    ),  # noqa: E501
    "api.check": ("auth", "check", None, 204, None, (422,)),
    "api.create_token": ("tokens", [], "TokenCreate", 201, "NewToken", BODY),
    "api.list_tokens": ("tokens", [], None, 200, {"type": "array", "items": ref("Token")}, ()),
    "api.get_token": ("tokens", [TOKEN], None, 200, "Token", (404,)),
    "api.update_token": ("tokens", [TOKEN], "TokenUpdate", 200, "Token", (404, 409, *BODY)),
    "api.regenerate_token": (
        "tokens",
        [TOKEN],
        "TokenRegenerate",
        200,
        "NewToken",
        (404, 409, *BODY),
    ),  # noqa: E501
    "api.token_usage": ("tokens", [TOKEN], None, 200, "TokenUsage", (404,)),
    "api.delete_token": ("tokens", [TOKEN], None, 204, None, (404,)),
    "api.list_projects": (
        "projects",
        [],
        None,
        200,
        {"type": "array", "items": ref("Project")},
        (),
    ),  # noqa: E501
    "api.get_project": ("projects", [PROJECT], None, 200, "Project", (404,)),
    "api.list_members": ("members", [PROJECT], None, 200, "Members", (404,)),
    "api.get_member": ("members", [PROJECT, USERNAME], None, 200, "Member", (404,)),
    "api.add_member": ("members", [PROJECT], "MemberAdd", 201, "Member", (404, 409, *BODY)),
    "api.change_member": (
        "members",
        [PROJECT, USERNAME],
        "MemberChange",
        200,
        "Member",
        (404, 409, *BODY),
    ),  # noqa: E501
    "api.remove_member": ("members", [PROJECT, USERNAME], None, 204, None, (404, 409)),
    "api.list_documents": ("documents", "list", None, 200, "Documents", (404, 422)),
    "api.create_document": (
        "documents",
        [PROJECT, "collection"],
        "DocumentBody",
        201,
        "Document",
        (404, *BODY),
    ),  # noqa: E501
    "api.get_document": ("documents", [PROJECT, "collection", DOC], None, 200, "Document", (404,)),  # noqa: E501
    "api.replace_document": (
        "documents",
        [PROJECT, "collection", DOC],
        "DocumentBody",
        200,
        "Document",
        (404, *BODY),
    ),  # noqa: E501
    "api.patch_document": (
        "documents",
        [PROJECT, "collection", DOC],
        "DocumentBody",
        200,
        "Document",
        (404, *BODY),
    ),  # noqa: E501
    "api.delete_document": ("documents", [PROJECT, "collection", DOC], None, 204, None, (404,)),
    "api.run_flow": ("flows", [PROJECT, DOC], "any", 201, "Document", (404, *BODY)),
    "api.trigger_webhook": ("flows", [PROJECT, DOC], "any", 201, "Document", (404, 409, *BODY)),
    "api.openapi": ("meta", [], None, 200, {"type": "object"}, "public"),
    "healthz": ("meta", [], None, 200, "Health", "public"),
}


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


def _parameters(spec) -> list[dict]:
    if spec == "check":
        return [
            _query(
                "project",
                "Project slug; empty or absent: a project key's own project.",
                {"type": "string", "pattern": f"^(?:{projects.SLUG.pattern})?$"},
            ),
            _query(
                "scope",
                "The scope the caller must hold; it names the entities the method acts on.",
                {"enum": catalogue().scope_strings},
            ),
            *(
                {
                    "name": header,
                    "in": "header",
                    "required": False,
                    "description": f"The original request's method ({proxy}): GET/HEAD read, "
                    "POST create, PUT/PATCH update, DELETE delete; any other is refused.",
                    "schema": {"type": "string"},
                }
                for header, proxy in (
                    ("X-Original-Method", "nginx auth_request"),
                    ("X-Forwarded-Method", "Traefik, Caddy forward auth"),
                )
            ),
        ]
    if spec == "list":
        return [
            PROJECT,
            _collection(),
            _query("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 100}),
            _query(
                "cursor",
                "`next_cursor` of the previous page.",
                {"type": "integer", "minimum": 0, "maximum": 2**62},
            ),  # noqa: E501
        ]
    return [_collection() if p == "collection" else p for p in spec]


def _responses(status: int, schema, errors) -> dict:
    ok = {"description": "Success."}
    if isinstance(schema, str):
        schema = ref(schema)
    if schema is not None:
        ok["content"] = {"application/json": {"schema": schema}}
    if status == 201 and schema == ref("Document"):
        ok["headers"] = {"Location": {"schema": {"type": "string"}, "required": True}}
    if status == 204 and errors == (422,):  # auth/check answers for nginx with the user
        ok["headers"] = {"X-Auth-User": {"schema": {"type": "string"}, "required": True}}
    answers = {str(status): ok}
    codes = (414, 503) if errors == "public" else sorted({*AUTH, *errors, 414})
    for code in codes:
        answers[str(code)] = {"$ref": f"#/components/responses/{code}"}
    return answers


def _operation(endpoint: str, method: str, view) -> dict:
    tag, params, body, status, schema, errors = OPERATIONS[endpoint]
    doc = (view.__doc__ or "").strip()
    summary = SUMMARIES.get(endpoint) or doc.split("\n\n")[0].replace("\n", " ")
    summary = summary or endpoint.split(".")[-1].replace("_", " ").capitalize()
    operation = {
        "operationId": f"{endpoint.split('.')[-1]}_{method}",
        "tags": [tag],
        "summary": summary,
        "parameters": _parameters(params),
        "responses": _responses(status, schema, errors),
    }
    if "\n\n" in doc:
        operation["description"] = doc.split("\n\n", 1)[1]
    if body == "any":
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {}}},
        }  # noqa: E501
    elif body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(body)}},
        }  # noqa: E501
    if errors == "public":
        operation["security"] = []
    if endpoint in LINKS:
        operation["responses"][str(status)]["links"] = LINKS[endpoint]
    return operation


def build_spec() -> dict:
    paths: dict[str, dict] = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint not in OPERATIONS:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        view = current_app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                rule.endpoint, method.lower(), view
            )  # noqa: E501
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
            "schemas": schemas(
                catalogue(),
                expiration={**nullable_int(1, 3650), "description": "Days to expiry; null: never."},
                grace={"type": "integer", "minimum": 0, "maximum": lifecycle.MAX_GRACE_DAYS},
                rate_limit=nullable_int(1, 100_000),
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
