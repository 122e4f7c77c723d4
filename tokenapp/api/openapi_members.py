"""JSON Schemas of the project member routes (people and service accounts)."""

from .. import accounts
from .. import service_accounts
from ..fields import USERNAME
from ..models import ROLES
from .openapi_schemas import TIME
from .openapi_schemas import ref
from .openapi_schemas import text

# A service account's NAME, in any case (it is lowered); text() strips surrounding blanks.
SERVICE_NAME = accounts.USERNAME.pattern.replace("a-z", "A-Za-z")


def member_schemas() -> dict:
    return {
        "Member": {
            "type": "object",
            "required": ["id", "username", "role", "service_account", "created_at"],
            "properties": {
                "id": {"type": "string"},
                "username": {"type": "string"},
                "role": {"type": "string", "enum": list(ROLES)},
                "service_account": {"type": "boolean"},
                "created_at": TIME,
            },
        },
        "MemberAdd": {
            "type": "object",
            "additionalProperties": False,
            "required": ["username", "role"],
            "properties": {
                "username": text(USERNAME.high),
                "role": {"enum": list(ROLES)},
                "service_account": {
                    "type": "boolean",
                    "description": "true: add a new service account NAME@PROJECT (`username` "
                    "is NAME; role editor or viewer) that never signs in; owners manage its keys. "
                    f"NAME@PROJECT is at most {USERNAME.high} characters (longer: 422).",
                },
            },
            # A service account's NAME has a person's username's syntax; it is never an owner.
            "if": {
                "required": ["service_account"],
                "properties": {"service_account": {"const": True}},
            },
            "then": {
                "properties": {
                    "username": {"pattern": rf"^\s*{SERVICE_NAME}\s*$"},  # text() strips
                    "role": {"enum": list(service_accounts.ROLES)},
                }
            },
        },
        "MemberChange": {
            "type": "object",
            "additionalProperties": False,
            "required": ["role"],
            "properties": {"role": {"enum": list(ROLES)}},
        },
        "Members": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": ref("Member")},
                "next_cursor": {"type": "null"},
            },
        },
    }
