"""The one source of "now": naive UTC, replaceable in tests through CLOCK."""

import datetime

from flask import current_app
from flask import has_app_context


def now() -> datetime.datetime:
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
