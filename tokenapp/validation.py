"""The one validation layer: read a JSON body, refuse unknown fields, check each field.

Each checker takes the raw value and returns the clean one or raises
ValueError with a message for the field. `read_body` gathers every field's
problem into one 422 (DESIGN §6).
"""

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import request

from . import fields
from .errors import Problem
from .errors import invalid
from .json_limits import MAX_JSON_DEPTH  # noqa: F401  (re-exported)
from .json_limits import NonFinite
from .json_limits import parse
from .json_limits import unacceptable
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


def json_body() -> Any:
    if not request.is_json:
        raise Problem(
            415,
            "Unsupported Media Type",
            "Send the body as JSON with 'Content-Type: application/json'.",
        )
    data, limit = request.get_data(cache=True), request.max_content_length
    if limit is not None and request.content_length is None and len(data) >= limit:
        # A body without Content-Length (chunked) is read only up to the limit: asking
        # for a byte more refuses it whole (werkzeug's LimitedStream raises the 413).
        request.stream.read(1)
    try:
        return parse(data)
    except NonFinite as exc:
        raise unacceptable(
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


def boolean(value):
    if not isinstance(value, bool):
        raise ValueError("Must be true or false.")
    return value


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
