"""Reading a JSON request body within bounds: nesting and finite numbers.

Bytes in, a Python value out, or a 422 Problem for JSON no field can hold
(validation.json_body, which every API body goes through, calls it).
"""

import json
import math
import re
from typing import Any

from .errors import Problem
from .errors import invalid

# Nesting of any JSON body: far below anything that recurses (json, peewee, _merge).
MAX_JSON_DEPTH = 64
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')


class NonFinite(Exception):
    """NaN, Infinity or a number too large for a float: not JSON (RFC 8259 §6)."""


def _refuse_constant(name: str):
    raise NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFinite(text)
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


def unacceptable(detail: str) -> Problem:
    """422 for well-formed JSON that no field can hold."""
    return invalid([{"field": "", "message": detail}], detail)


def _too_deep() -> Problem:
    return unacceptable(f"The body is nested too deep: at most {MAX_JSON_DEPTH} levels.")


def parse(raw: bytes) -> Any:
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
