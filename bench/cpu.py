"""Server CPU per request: what make bench reads beside req/s.

On a shared machine a server's req/s moves with everyone else's load (wrk
included: it runs on the same cores); the CPU time its own processes spend per
request moves far less. Around each wrk sample bench.run reads utime + stime
of every process of that server (gunicorn's master and workers, and for the
PostgreSQL leg the database backends serving it) and divides what they used
by the requests wrk completed.
"""

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

TICKS = os.sysconf("SC_CLK_TCK")  # /proc's utime and stime are in these
LOCAL = (None, "", "localhost", "127.0.0.1", "::1")  # a PostgreSQL server on this machine


def parse_stat(text: str) -> float:
    """utime + stime, in seconds, from the text of /proc/PID/stat.

    Field 2 is the command name in parentheses, which may itself hold spaces
    and parentheses: the fields after it start after the *last* ')'. There,
    field 3 (state) comes first, so utime (14) and stime (15) are at 11 and 12.
    """
    fields = text[text.rindex(")") + 1 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def snapshot(pids: Iterable[int]) -> dict[int, float]:
    """pid -> CPU seconds so far, for each of `pids` still running."""
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = parse_stat(Path(f"/proc/{pid}/stat").read_text())
        except (OSError, ValueError, IndexError):  # gone, or a zombie with no figures
            continue
    return seconds


def used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots.

    A process only in `after` started in between: all of its time counts. One
    only in `before` ended in between: what it spent after `before` is lost
    (none of make bench's processes end mid-sample).
    """
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def per_request_us(before: dict[int, float], after: dict[int, float], requests: int) -> float:
    """µs of CPU per request; NaN when nothing was completed."""
    return used(before, after) * 1e6 / requests if requests else float("nan")


def process_tree(pid: int) -> list[int]:
    """A gunicorn master and its direct children (its workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(int(child) for child in children)]


def postgres_backends(database_url: str, application_name: str) -> list[int]:
    """PIDs of the PostgreSQL backends serving connections named `application_name`.

    make bench starts each server with PGAPPNAME set (libpq reads it), so two
    servers on one database are told apart. None when the server is not on
    this machine (by its address): its PIDs would name unrelated processes here.
    """
    import psycopg2

    if urlsplit(database_url).hostname not in LOCAL:
        return []
    connection = psycopg2.connect(database_url, connect_timeout=5, application_name="make bench")
    with connection as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        )
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()
    return pids
