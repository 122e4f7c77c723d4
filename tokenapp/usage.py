"""Credential use: last_used to the minute, and request counts per hour.

Neither costs a write per request. last_used is written at most once per
credential per minute per process; hourly counts gather in a per-process dict
and are flushed as one transaction of upserts every USAGE_FLUSH_SECONDS, when
the dict grows past FLUSH_SIZE keys, and at process exit.
"""

import atexit
import datetime
import functools
import logging
import threading
import time
import uuid

from flask.globals import _cv_app
from peewee import EXCLUDED

from .auth import Principal
from .clock import now
from .db import counter_transaction
from .db import counter_write
from .db import database
from .models import Credential
from .models import Usage

log = logging.getLogger(__name__)

FLUSH_SIZE = 1000  # distinct (credential, hour) keys
REPORT_DAYS = 7
HOUR = datetime.timedelta(hours=1)

_last_written: dict[uuid.UUID, datetime.datetime] = {}
_pending: dict[tuple[uuid.UUID, datetime.datetime], int] = {}
_lock = threading.Lock()
_state = {"flushed_at": time.monotonic(), "atexit": False}


def touch(principal: Principal) -> None:
    """Record one authenticated request of the principal's credential."""
    hour, minute = _hour_and_minute(now())
    credential_id = principal.credential_id
    if _cv_app.get().app.config["USAGE_COUNTS"]:  # the variable: current_app costs ~1 µs
        _count(credential_id, hour)
    if _last_written.get(credential_id) == minute:
        return
    _last_written[credential_id] = minute
    counter_write(
        Credential.update(last_used=minute).where(
            (Credential.id == credential_id)
            & (Credential.last_used.is_null() | (Credential.last_used < minute))
        )
    )


@functools.lru_cache(maxsize=4)
def _hour_and_minute(moment: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    # now() is one value per second: its hour and minute made once, not per request.
    minute = moment.replace(second=0, microsecond=0)
    return minute.replace(minute=0), minute


def _count(credential_id: uuid.UUID, hour: datetime.datetime) -> None:
    with _lock:
        key = (credential_id, hour)
        _pending[key] = _pending.get(key, 0) + 1
        if not _state["atexit"]:
            _state["atexit"] = True
            atexit.register(_flush_at_exit)


def flush_if_due() -> None:
    """Flush when the interval has passed or the dict is large; never fails the request."""
    if not _pending:
        return
    context = _cv_app.get(None)
    interval = context.app.config["USAGE_FLUSH_SECONDS"] if context is not None else 30
    due = time.monotonic() - _state["flushed_at"] >= interval
    if not (due or len(_pending) >= FLUSH_SIZE):
        return
    try:
        flush()
    except Exception:  # counts go back; the response must not fail
        log.warning("could not flush usage counts; will retry", exc_info=True)


def flush() -> int:
    """Write the pending counts in one transaction; returns the number of rows upserted."""
    with _lock:
        batch = dict(_pending)
        _pending.clear()
        _state["flushed_at"] = time.monotonic()
    if not batch:
        return 0
    try:
        return _write(batch)
    except Exception:
        with _lock:
            for key, count in batch.items():
                _pending[key] = _pending.get(key, 0) + count
        raise


def _write(batch: dict[tuple[uuid.UUID, datetime.datetime], int]) -> int:
    opened = database.is_closed()
    if opened:
        database.connect()
    try:
        with counter_transaction():
            # A credential deleted since it was counted would fail the whole batch.
            ids = {credential_id for credential_id, _ in batch}
            live = {
                row[0]
                for row in Credential.select(Credential.id).where(Credential.id.in_(ids)).tuples()
            }
            rows = [
                {"credential": credential_id, "hour": hour, "count": count}
                for (credential_id, hour), count in batch.items()
                if credential_id in live
            ]
            if rows:
                (
                    Usage.insert_many(rows)
                    .on_conflict(
                        conflict_target=[Usage.credential, Usage.hour],
                        update={Usage.count: Usage.count + EXCLUDED.count},
                    )
                    .execute()
                )
            return len(rows)
    finally:
        if opened:
            database.close()


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception as exc:  # the process is ending; say so and go
        log.warning("usage counts lost at exit: %s", exc)


def report(credential_id: uuid.UUID, days: int = REPORT_DAYS) -> dict:
    """Hourly request counts over the last `days` days (current hour included), and totals."""
    flush()
    last = now().replace(minute=0, second=0, microsecond=0)
    first = last - datetime.timedelta(days=days) + HOUR
    counts = dict(
        Usage.select(Usage.hour, Usage.count)
        .where((Usage.credential == credential_id) & (Usage.hour >= first) & (Usage.hour <= last))
        .tuples()
    )
    hours = []
    moment = first
    while moment <= last:
        hours.append((moment, counts.get(moment, 0)))
        moment += HOUR
    per_day: dict[datetime.date, int] = {}
    for hour, count in hours:
        per_day[hour.date()] = per_day.get(hour.date(), 0) + count
    return {
        "from": first,
        "to": last + HOUR,
        "total": sum(count for _, count in hours),
        "hours": hours,
        "days": sorted(per_day.items()),
    }
