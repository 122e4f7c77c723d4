"""Per-credential rate limits: requests per minute, held across workers and nodes.

A fixed one-minute window per credential, counted where every worker and node
sees the same number: Redis when TOKENAPP_REDIS_URL is set (INCR and EXPIRE in
one round trip), else the database (an upsert on a unique index). Credentials
without a rate limit never reach a backend.
"""

import datetime
import logging
import uuid
from dataclasses import dataclass

from flask import Response
from flask import current_app
from flask import g

from .auth import Principal
from .clock import now
from .db import Prepared
from .db import counter_transaction
from .errors import Problem
from .models import RateWindow

log = logging.getLogger(__name__)

WINDOW = datetime.timedelta(minutes=1)
REDIS_KEY = "tokenapp:rate:{credential}:{window:%Y%m%d%H%M}"


@dataclass(frozen=True)
class Window:
    limit: int
    count: int
    reset: int  # seconds until the window ends

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    def headers(self) -> dict[str, str]:
        # draft-ietf-httpapi-ratelimit-headers: Reset is delta-seconds.
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.limit - self.count)),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


def enforce(principal: Principal) -> None:
    """Count this request against the credential's limit; 429 once it is spent."""
    g.pop("rate_window", None)
    if principal.rate_limit is None:
        return
    moment = now()
    start = moment.replace(second=0, microsecond=0)
    count = hit(principal.credential_id, start)
    reset = max(1, int((start + WINDOW - moment).total_seconds()))
    window = Window(principal.rate_limit, count, reset)
    g.rate_window = window
    if not window.allowed:
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
    if window is not None:
        for name, value in window.headers().items():
            response.headers.setdefault(name, value)
    return response


def hit(credential_id: uuid.UUID, start: datetime.datetime) -> int:
    """Add one request to the window starting at `start`; returns the window's count."""
    client = _redis()
    if client is not None:
        try:
            return _hit_redis(client, credential_id, start)
        except Exception:  # noqa: BLE001  (any Redis failure: the database still counts)
            log.warning("Redis unreachable; counting rate limits in the database", exc_info=True)
    return _hit_database(credential_id, start)


def _hit_redis(client, credential_id: uuid.UUID, start: datetime.datetime) -> int:
    key = REDIS_KEY.format(credential=credential_id, window=start)
    pipe = client.pipeline(transaction=True)
    pipe.incr(key)
    # Two windows: a node whose clock runs a little behind still finds the key.
    pipe.expire(key, int(2 * WINDOW.total_seconds()))
    count, _ = pipe.execute()
    return int(count)


_count_hit = Prepared(
    lambda credential, start: (
        RateWindow.insert(credential=credential, window_start=start, count=1)
        .on_conflict(
            conflict_target=[RateWindow.credential, RateWindow.window_start],
            update={RateWindow.count: RateWindow.count + 1},
        )
        .returning(RateWindow.count)
    ),
    "credential",
    "start",
)


def _hit_database(credential_id: uuid.UUID, start: datetime.datetime) -> int:
    # The unique index makes the upsert atomic across workers and nodes, and
    # RETURNING hands back this request's own count in the same statement.
    with counter_transaction():
        count = _count_hit.first(
            credential=RateWindow.credential.db_value(credential_id),
            start=RateWindow.window_start.db_value(start),
        )["count"]
        if count == 1:
            # First request of a new window: old windows of this credential are spent.
            (
                RateWindow.delete()
                .where(
                    (RateWindow.credential == credential_id)
                    & (RateWindow.window_start < start - WINDOW)
                )
                .execute()
            )
    return count


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    clients = current_app.extensions.setdefault("tokenapp.redis", {})
    if url not in clients:
        import redis

        clients[url] = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return clients[url]
