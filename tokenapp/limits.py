"""Per-credential rate limits: requests per minute, held across workers and nodes.

A fixed one-minute window per credential, counted where every worker and node
sees the same number: Redis when TOKENAPP_REDIS_URL is set, else the database
(an upsert on a unique index). Credentials without a rate limit never reach a
backend.

A worker does not write the shared count on every request: it *leases* a
share of what remains of the window (at most 1/LEASE_SHARE of it, never more
than LEASE_MAX) and admits that many requests from memory, the way Google's
Doorman leases capacity to its clients. The shared count is
raised by the whole lease when it is taken, so the workers together never
admit more than the limit; near the limit leases shrink to one request, so
the count is exact where it matters. What a worker leased and did not use is
lost with its window: a credential whose traffic moves between workers may be
refused a little before its limit (at most 1/16 of it per worker), never
after. A spent window is refused from memory, so a flood of 429s writes
nothing.
"""

import datetime
import logging
import os
import threading
import uuid
from dataclasses import dataclass

from flask import Response
from flask import current_app
from flask import g
from flask.globals import _cv_app

from .auth import Principal
from .clock import now
from .db import ASYNC_COMMIT
from .db import counter_transaction
from .db import counter_write
from .db import database
from .db import is_sqlite
from .errors import Problem
from .models import RateWindow
from .prepared import Prepared

log = logging.getLogger(__name__)

WINDOW = datetime.timedelta(minutes=1)
REDIS_KEY = "tokenapp:rate:{credential}:{window:%Y%m%d%H%M}"
LEASE_SHARE = 16
LEASE_MAX = 1000
MAX_LEASES = 10_000  # credentials remembered per process before old windows are dropped


@dataclass(frozen=True)
class Window:
    limit: int
    remaining: int  # after this request; a lower bound when other workers hold leases
    reset: int  # seconds until the window ends
    allowed: bool

    def headers(self) -> dict[str, str]:
        # draft-ietf-httpapi-ratelimit-headers: Reset is delta-seconds.
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


@dataclass
class _Lease:
    start: datetime.datetime
    limit: int
    left: int = 0  # requests this process may admit without asking
    counted: int = 0  # the shared count after this process's last claim

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.counted) + self.left


_leases: dict[uuid.UUID, _Lease] = {}
_lock = threading.Lock()
# A forked worker must not inherit its parent's leases: both would spend them.
os.register_at_fork(after_in_child=_leases.clear)


def enforce(principal: Principal) -> None:
    """Count this request against the credential's limit; 429 once it is spent."""
    _cv_app.get().g.pop("rate_window", None)  # `g` itself: the proxy costs ~1 µs
    if principal.rate_limit is None:
        return
    moment = now()
    start = moment.replace(second=0, microsecond=0)
    allowed, remaining = take(principal.credential_id, principal.rate_limit, start)
    reset = max(1, int((start + WINDOW - moment).total_seconds()))
    window = Window(principal.rate_limit, remaining, reset, allowed)
    g.rate_window = window
    if not allowed:
        raise Problem(
            429,
            "Too many requests",
            f"This credential allows {window.limit} requests per minute; "
            f"retry in {window.reset} seconds.",
            kind="rate-limited",
            headers=window.headers(),
        )


def add_headers(response: Response) -> Response:
    window = g.get("rate_window")
    # A refused request's headers came with its problem response.
    if window is not None and window.allowed:
        add = response.headers.add
        for name, value in window.headers().items():
            add(name, value)
    return response


def take(credential_id: uuid.UUID, limit: int, start: datetime.datetime) -> tuple[bool, int]:
    """Admit one request in the window starting at `start`: (allowed, remaining after it)."""
    with _lock:
        lease = _leases.get(credential_id)
        if lease is None or lease.start != start or lease.limit != limit:
            if len(_leases) >= MAX_LEASES:
                _forget_before(start)
            lease = _leases[credential_id] = _Lease(start, limit)
        if lease.left:
            lease.left -= 1
            return True, lease.remaining
        if lease.counted >= limit:
            # The shared count only rises within a window: it stays spent.
            return False, 0
        want = max(1, min(LEASE_MAX, (limit - lease.counted) // LEASE_SHARE))
    count = claim(credential_id, start, want)
    with _lock:
        granted = max(0, min(want, limit - (count - want)))
        lease.counted = max(lease.counted, count)
        if not granted:
            return False, lease.remaining
        lease.left += granted - 1
        return True, lease.remaining


def _forget_before(start: datetime.datetime) -> None:
    for credential_id in [c for c, lease in _leases.items() if lease.start < start]:
        del _leases[credential_id]


def claim(credential_id: uuid.UUID, start: datetime.datetime, amount: int) -> int:
    """Add `amount` to the shared count of the window at `start`; returns the new count."""
    client = _redis()
    if client is not None:
        try:
            return _claim_redis(client, credential_id, start, amount)
        except Exception:  # any Redis failure: the database still counts
            log.warning("Redis unreachable; counting rate limits in the database", exc_info=True)
    return _claim_database(credential_id, start, amount)


def _claim_redis(client, credential_id: uuid.UUID, start: datetime.datetime, amount: int) -> int:
    key = REDIS_KEY.format(credential=credential_id, window=start)
    pipe = client.pipeline(transaction=True)
    pipe.incrby(key, amount)
    # Two windows: a node whose clock runs a little behind still finds the key.
    pipe.expire(key, int(2 * WINDOW.total_seconds()))
    count, _ = pipe.execute()
    return int(count)


_count_claim = Prepared(
    lambda credential, start, amount: (
        RateWindow.insert(credential=credential, window_start=start, count=amount)
        .on_conflict(
            conflict_target=[RateWindow.credential, RateWindow.window_start],
            update={RateWindow.count: RateWindow.count + amount},
        )
        .returning(RateWindow.count)
    ),
    credential=RateWindow.credential,
    start=RateWindow.window_start,
    amount=None,
)


def _claim_database(credential_id: uuid.UUID, start: datetime.datetime, amount: int) -> int:
    # The unique index makes the upsert atomic across workers and nodes, and
    # RETURNING hands back the count this claim made, in the same statement.
    values = {"credential": credential_id, "start": start, "amount": amount}
    if not (is_sqlite() or database.in_transaction()):
        # PostgreSQL: one round trip, as db.counter_write sends a write (not four).
        count = _count_claim.first(before=ASYNC_COMMIT, **values)["count"]
        if count == amount:
            counter_write(_spent(credential_id, start))
        return count
    with counter_transaction():
        count = _count_claim.first(**values)["count"]
        if count == amount:
            _spent(credential_id, start).execute()
    return count


def _spent(credential_id: uuid.UUID, start: datetime.datetime):
    """Deletes the credential's old windows: run at the first claim of a new one."""
    return RateWindow.delete().where(
        (RateWindow.credential == credential_id) & (RateWindow.window_start < start - WINDOW)
    )


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    clients = current_app.extensions.setdefault("tokenapp.redis", {})
    if url not in clients:
        import redis

        clients[url] = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return clients[url]
