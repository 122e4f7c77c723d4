"""Sign-in throttling, kept in the database so that every worker and node counts the same failures.

Failures are counted over a sliding window (LOGIN_FAILURE_WINDOW) three ways:

- per username and address: LOGIN_FAILURE_LIMIT failures pause that pair
  until the oldest of them leaves the window (the page warns before);
- per address, across usernames: LOGIN_ADDRESS_FAILURE_LIMIT, far higher, so
  that one person's typos never lock out a team behind the same NAT, while a
  spray over many usernames from one address still stops;
- per username, from any address: from LOGIN_FAILURE_LIMIT failures on, each
  further attempt waits a delay that doubles up to LOGIN_DELAY_MAX — but only
  from addresses that have themselves failed for that username. An attacker
  elsewhere slows down only themselves; the owner at an address that did not
  fail is never refused (a refusal there would hand the attacker a lockout).

IPv6 addresses count by their /64: one host usually holds a whole /64.
"""

import datetime
import ipaddress
import math
from dataclasses import dataclass

from flask import current_app
from peewee import fn

from . import audit
from .clock import now
from .db import database
from .models import LoginFailure
from .models import User

FIRST_DELAY = 1  # seconds; doubles with each further failure of the username


@dataclass(frozen=True)
class Attempt:
    """A sign-in (or current-password) attempt: who it claims to be, from where."""

    username: str
    address: str

    @property
    def pair_key(self) -> str:
        return f"pair:{self.username}|{self.address}"

    @property
    def address_key(self) -> str:
        return f"addr:{self.address}"

    @property
    def user_key(self) -> str:
        return f"user:{self.username}"


def attempt(username: str | None, remote_addr: str | None) -> Attempt:
    return Attempt((username or "").strip().lower()[:64], counted_address(remote_addr))


def counted_address(remote: str | None) -> str:
    """The address a client is counted under: IPv6 by its /64, IPv4-mapped as IPv4
    (sign-ins here, public revocation reports in public_revoke)."""
    try:
        ip = ipaddress.ip_address(remote or "")
    except ValueError:
        return (remote or "-")[:50]
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def _settings() -> tuple[datetime.timedelta, int]:
    config = current_app.config
    return datetime.timedelta(seconds=config["LOGIN_FAILURE_WINDOW"]), config["LOGIN_FAILURE_LIMIT"]


def _recent(key: str, since: datetime.datetime, limit: int) -> list[datetime.datetime]:
    """The newest `limit` failure times of key inside the window, newest first."""
    query = (
        LoginFailure.select(LoginFailure.at)
        .where((LoginFailure.key == key) & (LoginFailure.at > since))
        .order_by(LoginFailure.at.desc())
        .limit(limit)
    )
    return [at for (at,) in query.tuples()]


def _full_wait(times: list[datetime.datetime], limit: int, since: datetime.datetime) -> int:
    if len(times) < limit:
        return 0
    return int((times[limit - 1] - since).total_seconds()) + 1


def retry_after(attempt: Attempt) -> int:
    """Seconds until this attempt may be made; 0 when allowed now."""
    window, limit = _settings()
    moment = now()
    since = moment - window
    pair = _recent(attempt.pair_key, since, limit)
    address_limit = current_app.config["LOGIN_ADDRESS_FAILURE_LIMIT"]
    wait = max(
        _full_wait(pair, limit, since),
        _full_wait(_recent(attempt.address_key, since, address_limit), address_limit, since),
    )
    if pair:  # this address has failed for this username: the username's delay applies
        recent = LoginFailure.select(fn.COUNT(LoginFailure.id), fn.MAX(LoginFailure.at)).where(
            (LoginFailure.key == attempt.user_key) & (LoginFailure.at > since)
        )
        count, last = recent.tuples().first()
        if count >= limit:
            doublings = min(count - limit, 30)
            delay = min(FIRST_DELAY << doublings, current_app.config["LOGIN_DELAY_MAX"])
            left = (last + datetime.timedelta(seconds=delay) - moment).total_seconds()
            wait = max(wait, math.ceil(left))
    return max(wait, 0)


def record_failure(attempt: Attempt) -> int:
    """Count a failure; returns how many attempts this username has left from this address."""
    window, limit = _settings()
    moment = now()
    keys = (attempt.pair_key, attempt.address_key, attempt.user_key)
    with database.atomic():
        LoginFailure.insert_many([{"key": key, "at": moment} for key in keys]).execute()
        LoginFailure.delete().where(LoginFailure.at < moment - window).execute()
    return max(limit - len(_recent(attempt.pair_key, moment - window, limit)), 0)


def forget(attempt: Attempt) -> None:
    """A correct password: forget this address's failures for the username (its own typos)."""
    LoginFailure.delete().where(LoginFailure.key == attempt.pair_key).execute()


def unlock(user: User, *, actor: User | None = None) -> int:
    """Clear every failure counted against user (from any address); returns how many."""
    name = user.username
    with database.atomic():
        cleared = LoginFailure.delete().where(LoginFailure.key == f"user:{name}").execute()
        LoginFailure.delete().where(LoginFailure.key.startswith(f"pair:{name}|")).execute()
        audit.record("user.unlock", actor, target=name, detail={"failures": cleared})
    return cleared


def failures_by_username() -> dict[str, int]:
    """Failures inside the window per username (for the admin page)."""
    window, _ = _settings()
    query = (
        LoginFailure.select(LoginFailure.key, fn.COUNT(LoginFailure.id))
        .where(LoginFailure.key.startswith("user:") & (LoginFailure.at > now() - window))
        .group_by(LoginFailure.key)
    )
    return {key.removeprefix("user:"): count for key, count in query.tuples()}
