"""JSON Schemas (2020-12, as OpenAPI 3.1 uses) for the API's bodies and answers.

The parts that follow the scope catalogue (scope strings, collections) are
built per request from the loaded catalogue, so the spec never drifts from it.
"""

from ..access import REFUSALS
from ..fields import IP_ALLOWLIST
from ..fields import NOTE
from ..fields import SERVER_FIELDS
from ..fields import USERNAME
from ..models import ROLES
from ..scopes import Catalogue

# What `validation.text` accepts: 1 to N characters, not all whitespace, no NUL.
NOT_BLANK = r"^[^\u0000]*[^\u0000\s][^\u0000]*$"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def text(high: int) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": high, "pattern": NOT_BLANK}


def nullable_int(low: int, high: int) -> dict:
    return {"type": ["integer", "null"], "minimum": low, "maximum": high}


TIME = {"type": ["string", "null"], "format": "date-time"}
CIDR_LIST = {
    "type": ["array", "null"],
    "maxItems": IP_ALLOWLIST.high,
    "items": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
    "description": "IP networks allowed to use the token (CIDR such as 10.0.0.0/8 also accepted).",
}


FIRST_USE = {
    "type": "boolean",
    "description": "The old secret stops at the new one's first request (grace: the ceiling).",
}


def key_schemas(grace: dict, rate_limit: dict) -> dict:
    fields = {
        "id": {"type": "string", "format": "uuid"},
        "kind": {"enum": ["export", "full"]},
        "label": {"type": "string"},
        "user": {"type": "string", "description": "The member the key acts as."},
        "service_account": {"type": "boolean", "description": "The member is a service account."},
        "created_at": TIME,
        "last_used": TIME,
        "state": {"type": "string"},
        "expiration": {
            **TIME,
            "description": "When the key stops: that of the token that made or last "
            "regenerated it through the API; null: never (keys from the pages and the CLI).",
        },
        "expires_soon": {"type": "boolean"},
        "previous_secret_expires_at": TIME,
        "ip_allowlist": {"type": ["array", "null"], "items": {"type": "string"}},
        "rate_limit": {"type": ["integer", "null"]},
    }
    return {
        "Key": {"type": "object", "required": list(fields), "properties": fields},
        "NewKey": {
            "allOf": [ref("Key")],
            "type": "object",
            "required": ["key"],
            "properties": {"key": {"type": "string", "description": "Shown only here."}},
        },
        "KeyCreate": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind", "label"],
            "properties": {
                "kind": {"enum": ["export", "full"]},
                "label": text(NOTE.high),
                "user": {
                    **text(USERNAME.high),
                    "description": "Owners only: a service account of the project the key "
                    "acts as (default: the caller).",
                },
                "ip_allowlist": CIDR_LIST,
                "rate_limit": rate_limit,
            },
        },
        "KeyUpdate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "label": text(NOTE.high),
                "ip_allowlist": CIDR_LIST,
                "rate_limit": rate_limit,
            },
        },
        "RevokeReport": {
            "type": "object",
            "additionalProperties": False,
            "required": ["credentials"],
            "properties": {
                "credentials": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 100,
                    "items": {"type": "string"},
                    "description": "Secrets found leaked (tkp_, tke_, tkf_).",
                }
            },
        },
        "RevokeAnswer": {
            "type": "object",
            "required": ["status", "detail"],
            "properties": {"status": {"const": "accepted"}, "detail": {"type": "string"}},
        },
        "KeyRegenerate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"grace": grace, "grace_until_first_use": FIRST_USE},
        },
    }


def schemas(catalogue: Catalogue, expiration: dict, grace: dict, rate_limit: dict) -> dict:
    scopes = {
        "type": "array",
        "minItems": 1,
        "maxItems": len(catalogue.scope_strings),
        "items": {"type": "string", "enum": catalogue.scope_strings},
        "description": "Scope strings from the catalogue.",
    }
    token_fields = {
        "id": {"type": "string", "format": "uuid"},
        "note": {"type": "string"},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "expiration": TIME,
        "created_at": TIME,
        "last_used": TIME,
        "state": {"type": "string"},
        "expires_soon": {"type": "boolean"},
        "previous_secret_expires_at": TIME,
        "ip_allowlist": {"type": ["array", "null"], "items": {"type": "string"}},
        "rate_limit": {"type": ["integer", "null"]},
    }
    timestamps = {"created_at": TIME, "updated_at": TIME}
    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
                "scope": {"type": "string", "description": "The scope that would be needed."},
                "refused_by": {"type": "string", "enum": list(REFUSALS)},
            },
        },
        "Token": {"type": "object", "required": list(token_fields), "properties": token_fields},
        "NewToken": {
            "allOf": [ref("Token")],
            "type": "object",
            "required": ["token"],
            "properties": {"token": {"type": "string", "description": "Shown only once."}},
        },
        "TokenCreate": {
            "type": "object",
            "additionalProperties": False,
            "required": ["expiration", "scopes", "note"],
            "properties": {
                "expiration": expiration,
                "scopes": scopes,
                "note": text(NOTE.high),
                "ip_allowlist": CIDR_LIST,
                "rate_limit": rate_limit,
            },
        },
        "TokenUpdate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "note": text(NOTE.high),
                "scopes": scopes,
                "ip_allowlist": CIDR_LIST,
                "rate_limit": rate_limit,
            },
        },
        "TokenRegenerate": {
            "type": "object",
            "additionalProperties": False,
            "required": ["expiration"],
            "properties": {
                "expiration": expiration,
                "grace": grace,
                "grace_until_first_use": FIRST_USE,
            },
        },
        **key_schemas(grace, rate_limit),
        "Verify": {
            "type": "object",
            "required": ["user", "credential", "project"],
            "properties": {
                "user": {"type": "object"},
                "credential": {"type": "object"},
                "project": {"type": ["object", "null"]},
                "access": {"type": "object", "description": "With ?explain=1."},
            },
        },
        "Project": {
            "type": "object",
            "required": ["slug", "name", "role", "created_at"],
            "properties": {
                "slug": {"type": "string"},
                "name": {"type": "string"},
                "role": {"type": "string", "enum": list(ROLES)},
                "created_at": TIME,
            },
        },
        "DocumentBody": {
            "type": "object",
            "description": "Any JSON object; the server sets " + ", ".join(SERVER_FIELDS) + ".",
            "properties": {name: False for name in SERVER_FIELDS},
        },
        "Document": {
            "type": "object",
            "required": list(SERVER_FIELDS),
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                **timestamps,
                "created_by": {"type": ["string", "null"]},
            },
        },
        "Documents": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {"type": "array", "items": ref("Document")},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
        "TokenUsage": {
            "type": "object",
            "required": ["id", "from", "to", "total", "days", "hours"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "from": TIME,
                "to": TIME,
                "total": {"type": "integer", "minimum": 0},
                "days": {"type": "array", "items": {"type": "object"}},
                "hours": {"type": "array", "items": {"type": "object"}},
            },
        },
        "Health": {
            "type": "object",
            "properties": {"status": {"const": "ok"}, "database": {"const": "ok"}},
        },
    }
