"""The one validation layer: read a JSON body, refuse unknown fields, check each field.

Each checker takes the raw value and returns the clean one or raises
ValueError with a message for the field. `read_body` gathers every field's
problem into one 422 (DESIGN §6).
"""

import ipaddress
from collections.abc import Callable
from typing import Any

from flask import request

from .errors import Problem
from .errors import invalid
from .scopes import Catalogue
from .scopes import InvalidScope

MISSING = object()
Checker = Callable[[Any], Any]


def json_body() -> Any:
    if not request.is_json:
        raise Problem(
            415,
            "Unsupported Media Type",
            "Send the body as JSON with 'Content-Type: application/json'.",
        )
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        # Nesting deep enough to exhaust the parser (b"[" * 40000) is malformed, not a 500.
        data = None
    if data is None and request.get_data(cache=True) != b"null":
        raise Problem(
            400, "Malformed JSON", "The request body is not valid JSON.", kind="malformed-json"
        )
    return data


def json_object() -> dict:
    data = json_body()
    if not isinstance(data, dict):
        raise invalid([{"field": "", "message": "The body must be a JSON object."}])
    return data


def read_body(fields: dict[str, Checker], *, required: tuple[str, ...] = ()) -> dict:
    """Validate the body against fields; only the keys present are returned."""
    data = json_object()
    errors = [{"field": name, "message": "Unknown field."} for name in data if name not in fields]
    clean = {}
    for name, check in fields.items():
        value = data.get(name, MISSING)
        if value is MISSING:
            if name in required:
                errors.append({"field": name, "message": "This field is required."})
            continue
        try:
            clean[name] = check(value)
        except ValueError as exc:
            errors.append({"field": name, "message": str(exc)})
    if errors:
        raise invalid(errors)
    return clean


def whole_number(low: int, high: int, *, nullable: bool = False) -> Checker:
    def check(value):
        if value is None and nullable:
            return None
        # JSON (and JSON Schema's "integer") does not tell 30.0 from 30; 1.5 stays refused.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        # bool is an int in Python; JSON true is not a number of days.
        if isinstance(value, bool) or not isinstance(value, int):
            kind = "null or " if nullable else ""
            raise ValueError(f"Must be {kind}a whole number from {low} to {high}.")
        if not low <= value <= high:
            raise ValueError(f"Must be from {low} to {high}.")
        return value

    return check


def text(low: int, high: int) -> Checker:
    def check(value):
        if not isinstance(value, str):
            raise ValueError("Must be a string.")
        # The length is the one sent (as the OpenAPI maxLength says); blank is refused.
        if not low <= len(value) <= high or not value.strip():
            raise ValueError(f"Must be {low} to {high} characters, not all blank.")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise ValueError("Must not contain NUL characters.")
        return value.strip()

    return check


def one_of(values: tuple[str, ...]) -> Checker:
    def check(value):
        if not isinstance(value, str) or value not in values:
            raise ValueError(f"Must be one of: {', '.join(values)}.")
        return value

    return check


def scope_list(catalogue: Catalogue) -> Checker:
    def check(value):
        if not isinstance(value, list) or not value:
            raise ValueError("Must be a non-empty list of scopes.")
        for item in value:
            try:
                catalogue.validate(item)
            except InvalidScope as exc:
                raise ValueError(
                    f"{exc}. Known scopes: {', '.join(catalogue.scope_strings)}."
                ) from None
        return sorted(set(value))

    return check


def cidr_list(value):
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("Must be null or a list of CIDR strings.")
    clean = []
    for item in value:
        try:
            clean.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP network (e.g. 10.0.0.0/8).") from None
    return clean or None


def json_document(max_bytes: int) -> dict:
    """A document body: any JSON object within max_bytes."""
    if len(request.get_data(cache=True)) > max_bytes:
        raise Problem(413, "Document too large", f"Documents are at most {max_bytes} bytes.")
    return json_object()
