"""The one source of "now": naive UTC, replaceable in tests through CLOCK."""

import datetime

from flask.globals import _cv_app


def now() -> datetime.datetime:
    # The app context's variable itself, not current_app: each proxy lookup cost ~1 µs,
    # and a verify asks for the time three times (bench/profile.md).
    context = _cv_app.get(None)
    if context is not None:
        clock = context.app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
