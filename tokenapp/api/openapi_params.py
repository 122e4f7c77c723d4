"""The OpenAPI parameters of the API's operations (path, query and header)."""

from .. import accounts
from .. import fields
from .. import projects
from ..access import MEMBERS
from ..access import catalogue
from .openapi_schemas import ref


def path(name, description, schema=None):
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}  # fmt: skip


def query(name, description, schema):
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


# The slug's own syntax (projects.SLUG): any other string is refused (404 or 403), and
# NUL, which no slug holds, with a 400 before any lookup (transport.refuse_nul).
SLUG = {"type": "string", "pattern": f"^{projects.SLUG.pattern}$"}
PROJECT = path("project", "The project's slug.", SLUG)
TOKEN = path("token_id", "The token's id.", {"type": "string", "format": "uuid"})
# accounts.USERNAME or SERVICE_USERNAME, in either case; "@" also as clients send it, %40.
_NAMES = (
    f"(?:{accounts.USERNAME.pattern})|"
    f"(?:{accounts.SERVICE_USERNAME.pattern.replace('@', '(?:@|%40)')})"
)
USERNAME = path(
    "username",
    "A member's username (case-insensitive); a service account's is NAME@PROJECT.",
    {
        "type": "string",
        "maxLength": fields.USERNAME.high,
        "pattern": f"^(?:{_NAMES.replace('a-z', 'A-Za-z')})$",
    },
)
DOC = path("doc_id", "The document's id.", {"type": "string", "format": "uuid"})
KEY = path("key_id", "The project key's id.", {"type": "string", "format": "uuid"})


def collection() -> dict:
    # Every entity of the catalogue except the member list, which has its own routes.
    names = [e for e in catalogue().entities if e != MEMBERS]
    return path("collection", "A collection of the scope catalogue.", {"enum": names})


# Any text but NUL, which transport.refuse_nul answers 400 before the route.
EXPLAIN = query("explain", "1 or true: list what the credential can do per project.",
                 {"type": "string", "pattern": "^[^\\u0000]*$"})  # fmt: skip
ITEM = [PROJECT, collection, DOC]


def check_params() -> list[dict]:
    return [
        query(
            "project",
            "Project slug; empty or absent: a project key's own project.",
            {"type": "string", "pattern": f"^(?:{projects.SLUG.pattern})?$"},
        ),
        query(
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


def list_params() -> list[dict]:
    return [
        PROJECT,
        collection(),
        query("limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": 100}),
        query("cursor", "`next_cursor` of the previous page.",
               {"type": "integer", "minimum": 0, "maximum": 2**62}),
    ]  # fmt: skip


def array(name: str) -> dict:
    return {"type": "array", "items": ref(name)}
