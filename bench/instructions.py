"""Instructions per request, counted by valgrind: a cost a busy machine does not move.

make bench runs it on its SQLite database of the smallest N (bench.run's
--instructions: requests per target, 0 skips it). Each target is called in
process as bench.inproc does (the WSGI callable, no gunicorn, no socket): once
natively (it must answer as expected, and Python's bytecode caches get
written), then twice in a fresh `python` under `valgrind --tool=callgrind`, with
the warm-up alone and with the warm-up and --requests more. The difference
over --requests is what one request executes: start-up and warm-up cancel out.
PYTHONHASHSEED is fixed so that the two runs take the same paths.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

from bench.inproc import call
from bench.inproc import environ
from bench.inproc import targets

WARM_UP = 50
HELLO = "hello-world Flask route"
FAST = ", fast path"
# name -> the status it must answer; the requests are bench.inproc's targets (fast path).
TARGETS = {
    HELLO: "200",
    "verify PAT" + FAST: "200",
    "verify project key" + FAST: "200",
    "check PAT, project and scope" + FAST: "204",
    "refused unknown token" + FAST: "401",
    "document read" + FAST: "200",
}
# The fixtures a child reads from its environment (bench.seed's names).
FIXTURES = {"pat": "BENCH_PAT", "export_key": "BENCH_KEY", "project": "BENCH_PROJECT"}
FIXTURES["document"] = "BENCH_DOCUMENT"


def collected(stderr: str) -> int:
    """The instruction count callgrind's summary gives ("==PID== Collected : N")."""
    found = re.findall(r"^==\d+== Collected : (\d+)$", stderr, re.MULTILINE)
    if not found:
        raise RuntimeError("no 'Collected' line in valgrind's output")
    return int(found[-1])


def per_request(warm_only: int, warm_and_more: int, requests: int) -> float:
    return (warm_and_more - warm_only) / requests


def child(name: str, count: int, database_url: str) -> None:
    """Run in the measured process: build the app, warm up, make `count` requests."""
    if name == HELLO:
        from bench.hello import app

        env = environ("/hello")
    else:
        from tokenapp import create_app

        app = create_app({"DATABASE_URL": database_url, "FAST_PATH": True})
        fixtures = {key: os.environ[variable] for key, variable in FIXTURES.items()}
        env = dict(targets(fixtures))[name.removesuffix(FAST)]
    for _ in range(WARM_UP + count):
        status = call(app, env)
        if not status.startswith(TARGETS[name]):
            raise SystemExit(f"{name}: {status}")


def count(name: str, requests: int, fixtures: dict, secrets: dict) -> float:
    """Instructions one request of `name` executes."""
    argv = [sys.executable, "-m", "bench.instructions", fixtures["database_url"], "--child", name]
    env = {**os.environ, **secrets, "PYTHONHASHSEED": "0"}
    env["TOKENAPP_INSTANCE_PATH"] = fixtures["instance"]
    subprocess.run([*argv, "1"], env=env, check=True, timeout=120)
    totals = []
    for n in (0, requests):
        grind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        done = subprocess.run(
            [*grind, *argv, str(n)], env=env, capture_output=True, text=True, timeout=1800
        )
        if done.returncode:
            raise RuntimeError(f"{name} under valgrind: exit {done.returncode}")
        totals.append(collected(done.stderr))
    return per_request(*totals, requests)


def measure(
    requests: int, fixtures: dict, names: list[str] | None = None
) -> tuple[dict[str, float], str]:
    """{target: instructions per request} on a seeded database, and a line saying how."""
    if not requests:
        return {}, "Instructions per request: not counted (--instructions 0)."
    if not shutil.which("valgrind"):
        return {}, "Instructions per request: not counted, valgrind is missing."
    secrets = {variable: fixtures[key] for key, variable in FIXTURES.items()}
    counted = {}
    for name in names or TARGETS:
        counted[name] = count(name, requests, fixtures, secrets)
        print(f"instructions per request, {name}: {counted[name]:,.0f}", flush=True)
    size = f", SQLite N={fixtures['count']:,}" if "count" in fixtures else ""
    return counted, (
        f"Counted by `valgrind --tool=callgrind` in process (bench.instructions: the WSGI "
        f"callable, no gunicorn){size}: each target run "
        f"warm-up only and warm-up plus {requests} requests, the difference over {requests}. "
        "However busy the machine, the same code gives the same count to within a few per "
        "cent (work done on a timer, such as usage flushes, varies); gunicorn's own cost "
        "per request is not in it (the CPU/request above has it)."
    )


def section(counted: dict[str, float], note: str) -> list[str]:
    """make bench's report section: the counts and hello's over each."""
    if not counted:
        return [note, ""]
    hello = counted.get(HELLO)  # --only without hello: no ratio
    lines = [
        "## Instructions per request (valgrind, in process)",
        "",
        note,
        "",
        "| request | instructions | × hello |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {name} | {n:,.0f} | {hello / n:.2f} |" if hello else f"| {name} | {n:,.0f} | – |"
        for name, n in counted.items()
    ]
    return [*lines, ""]


def main() -> int:
    """By hand: python -m bench.instructions sqlite:////path/tokenapp.db --requests 100
    with BENCH_PAT, BENCH_KEY, BENCH_PROJECT and BENCH_DOCUMENT set to bench.seed's
    fixtures of that database (pat, export_key, project, document) and
    TOKENAPP_INSTANCE_PATH to its instance folder; --only NAME (repeatable) for some."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--only", action="append", choices=list(TARGETS))
    parser.add_argument("--child", nargs=2, metavar=("NAME", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.database_url)
        return 0
    fixtures = {key: os.environ[variable] for key, variable in FIXTURES.items()}
    fixtures["database_url"] = args.database_url
    fixtures["instance"] = os.environ.get("TOKENAPP_INSTANCE_PATH", "instance")
    print("\n".join(section(*measure(args.requests, fixtures, args.only))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
