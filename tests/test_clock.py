"""clock.now outside tests' CLOCK: the system's current second, naive UTC."""

import datetime

from tokenapp import clock


def test_now_is_the_current_second_and_moves_with_the_clock(monkeypatch):
    seconds = iter([1_800_000_000.9, 1_800_000_000.2, 1_800_000_001.0, 1_800_000_000.5])
    monkeypatch.setattr(clock.time, "time", lambda: next(seconds))
    first = clock.utc_second()
    assert first == datetime.datetime(2027, 1, 15, 8, 0)
    assert first.tzinfo is None and first.microsecond == 0
    assert clock.utc_second() == first  # the same second: the same moment
    assert clock.utc_second() == datetime.datetime(2027, 1, 15, 8, 0, 1)
    # The system clock stepped back: now follows it, it is never stuck on a kept value.
    assert clock.utc_second() == first


def test_now_agrees_with_datetime_now():
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    moment = clock.now()
    after = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    assert before <= moment <= after
