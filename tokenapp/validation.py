"""The one validation layer: read a JSON body, refuse unknown fields, check each field.

Each checker takes the raw value and returns the clean one or raises
ValueError with a message for the field. `read_body` gathers every field's
problem into one 422 (DESIGN §6).
"""

import ipaddress
import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import request

from . import fields
from .errors import Problem
from .errors import invalid
from .scopes import Catalogue
from .scopes import InvalidScope

MISSING = object()
Checker = Callable[[Any], Any]
URL_MAX = 2048
# Printable ASCII without space: what http.client sends as is (no whitespace, no
# control characters, nothing its ASCII encoding refuses).
_URL_CHARS = re.compile(r"[\x21-\x7e]+")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")
_NETLOC = re.compile(
    r"(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<name>[^:\[\]]+))(?::(?P<port>[0-9]{1,5}))?"
)

# Nesting of any JSON body: far below anything that recurses (json, peewee, _merge).
MAX_JSON_DEPTH = 64
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')


class _NonFinite(Exception):
    """NaN, Infinity or a number too large for a float: not JSON (RFC 8259 §6)."""


def _refuse_constant(name: str):
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(text)
    return value


def _depth(value: Any) -> int:
    """How deeply value nests, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in item)
    return deepest


def _closed(raw: bytes) -> bool:
    """Every bracket outside strings is closed (counted, not matched: C speed, no recursion)."""
    bare = _STRINGS.sub(b"", raw)
    return bare.count(b"[") == bare.count(b"]") and bare.count(b"{") == bare.count(b"}")


def _unacceptable(detail: str) -> Problem:
    """422 for well-formed JSON that no field can hold."""
    return Problem(
        422,
        "Invalid request body",
        detail,
        kind="validation",
        errors=[{"field": "", "message": detail}],
    )


def _too_deep() -> Problem:
    return _unacceptable(f"The body is nested too deep: at most {MAX_JSON_DEPTH} levels.")


def _parse(raw: bytes) -> Any:
    """Parse a request body: finite numbers only, nesting bounded by MAX_JSON_DEPTH."""
    # Only brackets can nest; a body with few of them needs no depth walk.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:
        try:
            data = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
        except RecursionError:
            # Deeper than the parser itself can go: too deep if it is JSON at all;
            # unclosed brackets (b"[" * 40000) are malformed.
            if _closed(raw):
                raise _too_deep() from None
            raise ValueError("unbalanced brackets") from None
        if _depth(data) > MAX_JSON_DEPTH:
            raise _too_deep()
        return data
    return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)


def json_body() -> Any:
    if not request.is_json:
        raise Problem(
            415,
            "Unsupported Media Type",
            "Send the body as JSON with 'Content-Type: application/json'.",
        )
    try:
        return _parse(request.get_data(cache=True))
    except _NonFinite as exc:
        raise _unacceptable(
            f"{str(exc)[:20]} is not a finite number: NaN and Infinity are not JSON."
        ) from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, int() digit limit
        raise Problem(
            400, "Malformed JSON", "The request body is not valid JSON.", kind="malformed-json"
        ) from None


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
        most = len(catalogue.scope_strings)
        if len(value) > most:
            raise ValueError(f"Must list at most {most} scopes (the catalogue's size).")
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
    most = fields.IP_ALLOWLIST.high
    if len(value) > most:
        raise ValueError(f"Must list at most {most} networks, not {len(value)}.")
    clean = []
    for item in value:
        try:
            clean.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP network (e.g. 10.0.0.0/8).") from None
    return clean or None


def within(max_bytes: int) -> None:
    """413 for a body over max_bytes (a document, a flow run's input)."""
    if len(request.get_data(cache=True)) > max_bytes:
        raise Problem(413, "Document too large", f"Documents are at most {max_bytes} bytes.")


def json_document(max_bytes: int) -> dict:
    """A document body: any JSON object within max_bytes."""
    within(max_bytes)
    return json_object()


def webhook_url(value: Any) -> str | None:
    """An http(s) URL http.client can send as is, or None for none.

    Only its shape: whether the destination may be called is the delivery's
    policy (tokenapp/delivery.py). Credentials in a URL end up in logs, so
    userinfo is refused; international names are entered in punycode.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("Must be a string.")
    value = value.strip()
    if not value:
        return None
    if len(value) > URL_MAX:
        raise ValueError(f"Must be at most {URL_MAX} characters.")
    if not _URL_CHARS.fullmatch(value):
        raise ValueError(
            "Must not contain spaces, control or non-ASCII characters (percent-encode "
            "them; write an international domain name in punycode, xn--…)."
        )
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("Not a URL: check the host (an IPv6 address goes in [ ]).") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("Must be an http:// or https:// URL.")
    if "@" in parts.netloc:
        raise ValueError("Must not contain a user name or password.")
    host, port = split_netloc(parts.netloc)
    if not host:
        raise ValueError("Must name a host (a domain name or an IP address) and a valid port.")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("The port must be from 1 to 65535.")
    return value


def split_netloc(netloc: str) -> tuple[str | None, int | None]:
    """(lower-case host, port) of 'host[:port]' or '[v6]:port'; (None, None) if malformed."""
    match = _NETLOC.fullmatch(netloc)
    if not match:
        return None, None
    v6, name, port = match.group("v6", "name", "port")
    if v6 is not None:
        try:
            ipaddress.IPv6Address(v6)
        except ValueError:
            return None, None
    host = (v6 or name).lower()
    if name is not None and not _HOST_NAME.fullmatch(host):
        return None, None
    return host, int(port) if port else None
