"""The one source of "now": naive UTC, replaceable in tests through CLOCK."""

import datetime
import time

from flask.globals import _cv_app

EPOCH = datetime.datetime(1970, 1, 1)
# (whole second since the epoch, that second as a naive UTC datetime): now() has no
# microseconds, so within one second it is one value, built once (a verify asks 2-3
# times, a document read 3; datetime.now(UTC).replace(...) costs ~1.5 µs a call).
_second: tuple[int, datetime.datetime] = (-1, EPOCH)


def now() -> datetime.datetime:
    # The app context's variable itself, not current_app: each proxy lookup cost ~1 µs.
    context = _cv_app.get(None)
    if context is not None:
        clock = context.app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return utc_second()


def utc_second() -> datetime.datetime:
    """The system clock's current second (naive UTC), as datetime.now(UTC) floors it."""
    global _second
    second = int(time.time())
    kept = _second
    if kept[0] == second:
        return kept[1]
    moment = EPOCH + datetime.timedelta(seconds=second)
    _second = (second, moment)
    return moment
