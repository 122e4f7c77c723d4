"""Query parameters: every value a route reads from request.args goes through here.

So no query string reaches int(), a date or the database unchecked: a bad value
is BadQuery naming the parameter (a 422 on the API, a 400 with the message on a
page) or, where the caller asks, a clamped value.
"""

import datetime
from collections.abc import Callable

from flask import request

from .errors import Problem
from .errors import invalid

EARLIEST_DAY = datetime.date(1970, 1, 1)
LATEST_DAY = datetime.date(2999, 12, 31)


class BadQuery(ValueError):
    """A query parameter that cannot be used; `field` names it, str() says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field

    def problem(self) -> Problem:
        return invalid([{"field": self.field, "message": str(self)}])


def query_int(name: str, default: int, low: int, high: int, *, clamp: bool = False) -> int:
    """An integer from low to high; with clamp, a bad value is the default or nearest bound.

    Absent or blank (an empty form field) is the default.
    """
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return default
    # ASCII digits only ("²".isdigit() is true), and few enough for int() to be cheap.
    digits = raw.isascii() and raw.isdigit()
    if digits and len(raw) <= len(str(high)):
        value = int(raw)
        if low <= value <= high:
            return value
        if clamp:
            return min(max(value, low), high)
    elif clamp:
        return high if digits else default
    raise BadQuery(name, f"Must be a whole number from {low} to {high}.")


def query_day(name: str) -> datetime.date | None:
    """A YYYY-MM-DD day within EARLIEST_DAY..LATEST_DAY, or None when absent or empty."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        if not raw.isascii() or len(raw) != 10:
            raise ValueError(raw)
        day = datetime.datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise BadQuery(name, "Enter a date as YYYY-MM-DD.") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise BadQuery(name, f"Enter a date from {EARLIEST_DAY} to {LATEST_DAY}.")
    return day


def query_text(name: str, *, most: int = 200) -> str:
    """A free-text filter, stripped; "" when absent."""
    raw = request.args.get(name, "").strip()
    if len(raw) > most:
        raise BadQuery(name, f"Must be at most {most} characters.")
    return raw


def query_choice(name: str, values, default: str = "") -> str:
    """One of values; `default` when absent or empty."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if raw not in values:
        raise BadQuery(name, f"Choose one of: {', '.join(values)}.")
    return raw


def on_page(errors: list[str], label: str, read: Callable, name: str, *args, **kwargs):
    """For a page's filters: the value read, or None with the problem added to errors."""
    try:
        return read(name, *args, **kwargs)
    except BadQuery as exc:
        errors.append(f"{label}: {exc}")
        return None
