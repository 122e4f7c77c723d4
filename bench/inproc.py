"""In-process per-request timings: each request timed one by one, µs median.

    python -m bench.inproc [N] [--repeat 3000] [--backends sqlite,postgresql]
                           [--transport socket|tcp|both]

For each backend (PostgreSQL on TOKENAPP_BENCH_DATABASE_URL's server, as make
bench does; skipped, with a line, when unreachable; a server on this machine
through its unix socket, said in a line, unless --transport tcp), seeds a database with N
tokens (bench.seed), builds the app as `tokenapp serve` does (create_app, then
the WSGI callable gunicorn runs), once with TOKENAPP_FAST_PATH on and once
off, and calls it with a prepared WSGI environ, reading the whole body; no
gunicorn, no socket. The hello-world Flask route is timed the same way, before
and after. Then the parts of verify and check, each function timed alone in
one app context. Prints one Markdown table, a column per backend: this is
what bench/profile.md is written from (sampling profilers that include
gunicorn's blocking send understate each part).
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from urllib.parse import parse_qs
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from bench import seed as seeding


def environ(path: str, secret: str | None = None, query: str = "", **headers: str) -> dict:
    env = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if secret:
        env["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    for name, value in headers.items():
        env["HTTP_" + name.upper()] = value
    return env


def call(app: Callable, env: dict) -> str:
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(line)

    result = app(dict(env, **{"wsgi.input": io.BytesIO(b"")}), start_response)
    try:
        b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close:
            close()
    return status[0]


def time_one(app: Callable, env: dict, repeat: int) -> tuple[float, str]:
    status = call(app, env)
    for _ in range(200):
        call(app, env)
    samples = []
    clock = time.perf_counter_ns
    for _ in range(repeat):
        start = clock()
        call(app, env)
        samples.append(clock() - start)
    return statistics.median(samples) / 1000, status


def targets(fixtures: dict) -> list[tuple[str, dict]]:
    doc = f"/api/v1/projects/{fixtures['project']}/dashboards/{fixtures['document']}"
    unknown = seeding.filler_secret()
    return [
        ("verify PAT", environ("/api/v1/auth/verify", fixtures["pat"])),
        ("verify project key", environ("/api/v1/auth/verify", fixtures["export_key"])),
        (
            "check PAT, project and scope",
            environ(
                "/api/v1/auth/check",
                fixtures["pat"],
                f"project={fixtures['project']}&scope=dashboard:view",
                X_Original_Method="GET",
            ),
        ),
        ("refused unknown token", environ("/api/v1/auth/verify", unknown)),
        ("document read", environ(doc, fixtures["pat"])),
    ]


def parts(app, fixtures: dict, repeat: int) -> list[tuple[str, float]]:
    """(part, µs median) of verify and check, each function timed alone in one app context."""
    from tokenapp import auth
    from tokenapp import credentials
    from tokenapp import db
    from tokenapp import usage
    from tokenapp.access import admit
    from tokenapp.api.auth import decide_check
    from tokenapp.api.auth import verify_body

    secret, project = fixtures["pat"], fixtures["project"]

    def push_pop() -> None:
        with app.app_context():
            pass

    with app.app_context():
        db.open_connection()
        principal = auth.principal_for(secret)
        # As the fast path asks for check and document reads: the membership comes along.
        member = auth.principal_for(secret, project)
        digest = credentials.parse(secret).digest
        steps = [
            (
                "`auth.principal_for`: parse + SHA-256 + lookup + rules",
                partial(auth.principal_for, secret),
            ),
            (
                "`auth.principal_for` naming the project (its membership in the same query)",
                partial(auth.principal_for, secret, project),
            ),
            (
                "… of which `credentials.parse` (checksum, SHA-256)",
                partial(credentials.parse, secret),
            ),
            (
                "… of which the lookup (`prepared.Prepared`, one query)",
                partial(auth._lookup.first, digest=digest),
            ),
            (
                "`decide_check` (PAT, project and scope; membership read with the secret)",
                partial(
                    decide_check,
                    member,
                    project,
                    "dashboard:view",
                    {"X-Original-Method": "GET"},
                    f"project={project}&scope=dashboard:view",
                ),
            ),
            ("`verify_body` + JSON", lambda: app.json.dumps(verify_body(principal))),
            (
                "`usage.touch` (last_used already written this minute)",
                partial(usage.touch, principal),
            ),
            ("`usage.flush_if_due` (not due)", usage.flush_if_due),
            ("`access.admit` (no allowlist)", partial(admit, principal, "127.0.0.1")),
        ]
        result = [(name, median_us(step, repeat)) for name, step in steps]
    result.insert(0, ("app context push + pop, connection kept", median_us(push_pop, repeat)))
    return result


def median_us(step: Callable, repeat: int, warm_up: int = 200) -> float:
    """µs median of step(), each call timed alone, after warm_up calls."""
    for _ in range(warm_up):
        step()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(repeat):
        start = clock()
        step()
        samples.append(clock() - start)
    return statistics.median(samples) / 1000


def measure(
    backend: str, n: int, repeat: int, database_url: str | None, seeded: dict | None = None
) -> dict[str, float]:
    """Row label -> µs for one backend (`seeded`: bench.seed's fixtures of that database,
    already filled, reached here through `database_url`)."""
    from bench.hello import app as hello
    from tokenapp import create_app
    from tokenapp import db

    if seeded is None:
        fixtures = seeding.seed(tempfile.mkdtemp(prefix="tokenapp-inproc-"), n, database_url)
    else:
        fixtures = dict(seeded, database_url=database_url)
    rows: dict[str, float] = {}
    hello_before, _ = time_one(hello, environ("/hello"), repeat)
    for fast in (True, False):
        app = create_app({"DATABASE_URL": fixtures["database_url"], "FAST_PATH": fast})
        way = "fast path" if fast else "Flask path"
        for name, env in targets(fixtures):
            micros, status = time_one(app, env, repeat)
            rows[f"{name}, {way}, whole WSGI call"] = micros
            print(f"{backend}: {name}, {way}: {micros:.1f} µs ({status})", flush=True)
    hello_after, _ = time_one(hello, environ("/hello"), repeat)
    rows = {"hello-world Flask route, whole WSGI call": (hello_before + hello_after) / 2, **rows}
    rows.update(parts(app, fixtures, repeat))
    db.database.close_all()
    return rows


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SOCKET_DIRS = ("/var/run/postgresql", "/run/postgresql", "/tmp")


def local_socket(url: str) -> str | None:
    """`url` through the unix socket of the same server, when it is on this machine and its
    socket is in a usual folder; else None. (A round trip costs ~4 µs less than on
    loopback TCP: README, "Several nodes on PostgreSQL".)"""
    parts = urlsplit(url)
    if parts.hostname not in LOCAL_HOSTS or "host=" in parts.query:
        return None
    for folder in SOCKET_DIRS:
        if os.path.exists(f"{folder}/.s.PGSQL.{parts.port or 5432}"):
            query = "&".join(filter(None, [parts.query, f"host={folder}"]))
            return urlunsplit(parts._replace(query=query))
    return None


def transports(url: str, wanted: str) -> list[tuple[str, str]]:
    """(column label, URL) of each PostgreSQL transport to measure, saying which it is."""
    socket_url = local_socket(url) if wanted != "tcp" else None
    ways = []
    if wanted in ("tcp", "both") or socket_url is None:
        ways.append(("PostgreSQL, TCP", url))
    if socket_url is not None:
        ways.append(
            (f"PostgreSQL, socket {parse_qs(urlsplit(socket_url).query)['host'][-1]}", socket_url)
        )
    print("PostgreSQL transport: " + ", ".join(label for label, _ in ways), flush=True)
    return ways


def main() -> int:
    from bench.run import postgres_server

    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--transport",
        choices=("socket", "tcp", "both"),
        default="socket",
        help="PostgreSQL on this machine: its unix socket (default), loopback TCP, or both",
    )
    args = parser.parse_args()
    columns: dict[str, dict[str, float]] = {}
    if "sqlite" in args.backends:
        columns["SQLite"] = measure("SQLite", args.n, args.repeat, None)
    if "postgresql" in args.backends:
        server, note = postgres_server()
        print(note, flush=True)
        if server:
            with seeding.postgres_database(server, f"bench_inproc_{os.getpid()}") as url:
                seeded = None
                for label, way in transports(url, args.transport):
                    if seeded is None:
                        seeded = seeding.seed(
                            tempfile.mkdtemp(prefix="tokenapp-inproc-"), args.n, way
                        )
                    columns[label] = measure(label, args.n, args.repeat, way, seeded)
    print(f"\n| N = {args.n:,}, µs median of {args.repeat:,} | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    first = next(iter(columns.values()))
    for row in first:
        print(f"| {row} | " + " | ".join(f"{c.get(row, 0):.1f}" for c in columns.values()) + " |")
    hello = "hello-world Flask route, whole WSGI call"
    for name, c in columns.items():
        ratios = ", ".join(
            f"{row.split(',')[0]} {c[hello] / c[row]:.2f}×"
            for row in c
            if row.endswith("fast path, whole WSGI call")
        )
        print(f"\n{name}, fast path, × hello in process: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
