"""make bench's CPU per request: /proc parsing, the arithmetic, the report's cells.

Nothing here is timed: the figures are built by hand or read from this process.
"""

import os
import secrets
import subprocess
import sys
from types import SimpleNamespace

import pytest

from bench import cpu
from bench import figures
from bench import instructions
from bench import report

# /proc/PID/stat of a process named "my (odd) name) x": utime 250, stime 50 ticks.
ODD = (
    "4242 (my (odd) name) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 "
    "161849 3133440 390 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
)


@pytest.mark.backend_independent
def test_parse_stat_reads_utime_and_stime_after_a_name_with_spaces_and_parentheses():
    assert cpu.parse_stat(ODD) == pytest.approx(300 / cpu.TICKS)
    plain = ODD.replace("(my (odd) name) x)", "(gunicorn)")
    assert cpu.parse_stat(plain) == pytest.approx(300 / cpu.TICKS)


@pytest.mark.backend_independent
def test_parse_stat_of_this_process_agrees_with_os_times():
    # Spend some CPU so that the figures are not both zero.
    sum(i * i for i in range(300_000))
    times = os.times()
    mine = cpu.snapshot([os.getpid()])[os.getpid()]
    # Both count every thread; os.times is read first, so /proc may be a tick or two ahead.
    assert times.user + times.system - 1 / cpu.TICKS <= mine
    assert mine <= times.user + times.system + 20 / cpu.TICKS


@pytest.mark.backend_independent
def test_snapshot_skips_processes_that_are_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert cpu.snapshot([child.pid]) == {}


@pytest.mark.backend_independent
def test_process_tree_is_the_master_and_its_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tree = cpu.process_tree(os.getpid())
        assert tree[0] == os.getpid()
        assert child.pid in tree
    finally:
        child.kill()
        child.wait()


@pytest.mark.backend_independent
def test_used_counts_new_processes_whole_and_drops_ended_ones():
    before = {1: 2.0, 2: 5.0, 3: 1.0}
    after = {1: 2.5, 2: 5.25, 4: 0.25}  # 3 ended, 4 started in between
    assert cpu.used(before, after) == pytest.approx(0.5 + 0.25 + 0.25)
    assert cpu.per_request_us(before, after, 4000) == pytest.approx(250.0)
    assert cpu.per_request_us(before, after, 0) != cpu.per_request_us(before, after, 0)  # NaN


@pytest.mark.backend_independent
def test_postgres_backends_of_a_server_elsewhere_are_not_looked_up():
    # No connection is attempted: nothing listens there, and this would raise if it tried.
    assert cpu.postgres_backends("postgresql://u@db.invalid:1/x", "tokenapp") == []


def test_postgres_backends_are_found_by_application_name(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL server is needed")
    import psycopg2

    name = f"bench-test-{secrets.token_hex(4)}"
    conn = psycopg2.connect(database_url, application_name=name)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        assert cpu.postgres_backends(database_url, name) == [pid]
        assert cpu.postgres_backends(database_url, name + "-other") == []
    finally:
        conn.close()


def _sample(rps: float, cpu_us: float, hello: int = 0, p99_us: float = 4000) -> dict:
    return {
        "rps": rps,
        "cpu_us": cpu_us,
        "db_cpu_us": 0.0,
        "hello": hello,
        "p50_us": 1000,
        "p99_us": p99_us,
        "errors": 0,
    }


@pytest.mark.backend_independent
def test_each_sample_is_set_against_the_two_hellos_around_it():
    hellos = [_sample(1000, 100), _sample(3000, 300), _sample(2000, 200)]
    # Between hellos 0 and 1 (mean 2000 req/s, 200 µs), then between 1 and 2 (2500, 250).
    results = [_sample(1000, 400, hello=0), _sample(2500, 125, hello=1)]
    assert figures.ratios(hellos, results) == pytest.approx([0.5, 1.0])
    # CPU: hello's µs over the target's, so cheaper than hello is above 1.
    assert figures.ratios(hellos, results, "cpu") == pytest.approx([0.5, 2.0])
    assert figures.ratio(hellos, results, "cpu") == pytest.approx(1.25)
    assert figures.spread([0.74, 0.86, 0.80]) == "0.80 (0.74–0.86)"
    assert figures.widest([2.0, 1.0, 1.5]) == 2.0


def _context() -> dict:
    """What bench.run hands report.render: one SQLite leg, two rounds of verify PAT."""
    hellos = [_sample(2000, 200, p99_us=3000)] * 3
    leg = SimpleNamespace(
        backend="SQLite",
        n=1000,
        fast=True,
        label="SQLite N=1,000",
        names=("verify PAT",),
        samples={"verify PAT": [_sample(1600, 400, 0, 6000), _sample(1800, 400, 1, 6000)]},
    )
    variants = (("on", "usual", "pat"), ("off", "usual", "pat"))
    return {
        "args": SimpleNamespace(duration=3, rounds=2, cycles=4, cycle_seconds=1),
        "sizes": [1000],
        "legs": [leg],
        "hellos": hellos,
        "rss": {"hello": [45.0]},
        "rss_after": {"hello": [46.0]},
        "seed_notes": [],
        "paired": {"on": [1.0, 1.0, 1.0, 1.0], "off": [1.0, 1.0, 1.0, 1.0]},
        "variants": variants,
        "sign_ins": {},
        "load": ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
        "fast_default": True,
        "connections": 8,
        "threads": 8,
        "goals": {"verify PAT": 1.00},
        "hot": ("verify PAT",),
    }


@pytest.mark.backend_independent
def test_the_goals_table_judges_cpu_per_request_with_req_s_and_hellos_p99_beside(monkeypatch):
    monkeypatch.setattr(report, "RATIOS", ())
    text = report.render(_context())
    assert "| verify PAT ≥ 1.00× hello | 0.50× CPU **not met** (0.85× req/s) |" in text
    assert "6.0 ms **not met** (hello 3.0 ms)" in text
    assert "| SQLite N=1,000 | verify PAT | 1700 | 0.85 (0.80–0.90) | 400 | 0.50 (0.50–0.50) |" in (
        text
    )
    assert "req/s 1.12, CPU 1.00." in text


@pytest.mark.backend_independent
def test_instructions_per_request_is_the_difference_of_two_callgrind_totals():
    stderr = (
        "==77== Callgrind, a call-graph generating cache profiler\n==77== Collected : 600012606\n"
    )
    assert instructions.collected(stderr) == 600_012_606
    with pytest.raises(RuntimeError):
        instructions.collected("==77== no summary\n")
    assert instructions.per_request(600_000_000, 648_000_000, 100) == 480_000
    counted = {"hello-world Flask route": 370_000.0, "verify PAT, fast path": 481_000.0}
    table = instructions.section(counted, "how")
    assert "| verify PAT, fast path | 481,000 | 0.77 |" in table
    assert instructions.section({}, "not counted") == ["not counted", ""]


@pytest.mark.backend_independent
def test_the_floor_section_sets_each_round_trip_against_hellos_cpu():
    c = {"hellos": [{"cpu_us": 200.0}, {"cpu_us": 300.0}, {"cpu_us": 250.0}],
         "floor": [("PostgreSQL `SELECT 1` (psycopg2)", 20.0, 30.0)]}  # fmt: skip
    text = "\n".join(report.floor(c))
    assert "| PostgreSQL `SELECT 1` (psycopg2) | 20.0 | 30.0 | 50.0 | 0.20 |" in text
    assert "(250 µs under gunicorn)" in text
    assert report.floor({"hellos": c["hellos"], "floor": []}) == []


def test_one_postgresql_round_trip_costs_both_processes_some_cpu(database_url):
    from bench import roundtrip

    if not database_url.startswith("postgresql"):
        pytest.skip("reads a PostgreSQL backend's CPU: needs TOKENAPP_TEST_BACKEND=postgresql")
    rows = roundtrip.cpu_per_round_trip(database_url, None, repeat=2000)
    assert [label for label, *_ in rows] == ["PostgreSQL `SELECT 1` (psycopg2)"]
    _, client, server = rows[0]
    assert client > 0 and server > 0
