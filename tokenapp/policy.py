"""The instance policy for personal access tokens: a longest lifetime, an expiry required.

Set by an admin on /admin/policy (kept in the Setting table, so every node
reads the same), or fixed by configuration (TOKENAPP_MAX_TOKEN_LIFETIME_DAYS,
TOKENAPP_TOKEN_EXPIRY_REQUIRED), which then wins and the page shows it read-only.
Every face asks `refusal(days)` before it issues or regenerates a token.
"""

from dataclasses import dataclass

from flask import current_app

from . import audit
from .db import database
from .fields import EXPIRATION_DAYS
from .models import Setting
from .models import User

MAX_DAYS_KEY = "policy.max_token_lifetime_days"
REQUIRED_KEY = "policy.token_expiry_required"


@dataclass(frozen=True)
class Policy:
    max_days: int | None  # None: up to the field's own bound
    expiry_required: bool
    fixed: bool  # set by configuration: the page cannot change it


def _configured() -> tuple[int | None, bool | None]:
    days = current_app.config.get("MAX_TOKEN_LIFETIME_DAYS")
    required = current_app.config.get("TOKEN_EXPIRY_REQUIRED")
    return (None if days in (None, "") else int(days)), (
        None if required in (None, "") else bool(required)
    )


def current() -> Policy:
    days, required = _configured()
    if days is not None or required is not None:
        return Policy(days, bool(required) or days is not None, fixed=True)
    stored = {
        row.key: row.value
        for row in Setting.select().where(Setting.key.in_([MAX_DAYS_KEY, REQUIRED_KEY]))
    }
    max_days = int(stored[MAX_DAYS_KEY]) if stored.get(MAX_DAYS_KEY) else None
    return Policy(max_days, stored.get(REQUIRED_KEY) == "1" or max_days is not None, fixed=False)


def refusal(days: int | None) -> str | None:
    """Why the policy forbids a token expiring in `days` (None: never), or None."""
    policy = current()
    if days is None and policy.expiry_required:
        if policy.max_days:
            return f"This site requires an expiry of at most {policy.max_days} days."
        return "This site requires every token to expire."
    if days is not None and policy.max_days and days > policy.max_days:
        return f"This site allows tokens of at most {policy.max_days} days."
    return None


def save(max_days: int | None, expiry_required: bool, *, actor: User) -> None:
    if max_days is not None and not EXPIRATION_DAYS.low <= max_days <= EXPIRATION_DAYS.high:
        raise ValueError(f"A whole number of days from 1 to {EXPIRATION_DAYS.high}.")
    expiry_required = expiry_required or max_days is not None  # a maximum implies an expiry
    values = {MAX_DAYS_KEY: str(max_days or ""), REQUIRED_KEY: "1" if expiry_required else ""}
    with database.atomic():
        for key, value in values.items():
            (
                Setting.insert(key=key, value=value)
                .on_conflict(conflict_target=[Setting.key], update={Setting.value: value})
                .execute()
            )
        audit.record(
            "policy.update",
            actor,
            detail={"max_token_lifetime_days": max_days, "expiry_required": expiry_required},
        )
