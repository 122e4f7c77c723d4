"""make bench: tokenapp against a hello-world Flask app, interleaved in one run.

    python -m bench.run [--sizes 1000,1000000] [--duration 4] [--rounds 3]

Seeds one database per backend and N (bench.seed): SQLite always, PostgreSQL
on the server TOKENAPP_BENCH_DATABASE_URL names (default the local one; a
database bench_<pid>_<N> is made and dropped; unreachable or empty: that leg
is skipped, said in one line; a server on this machine through its unix socket,
said in a line). Starts `tokenapp serve --workers 2` on each with
TOKENAPP_FAST_PATH=true, one more per backend at the largest N with
TOKENAPP_FAST_PATH=false (the Flask path), and the hello-world app
(bench.hello) with the same gunicorn settings. Then wrk (8 connections, one
target at a time) round after round, the legs in rotating order, hello
before and after every sample: each sample's ratio is to the mean of the two
hello samples around it, and the median over the rounds is reported. Then
verify during 4 looping sign-ins, before (2 sync workers) and after (serve's
threads), per backend; then instructions per request under valgrind
(bench.instructions). Every sample also reads the server's CPU per request
(bench.cpu). The table goes to stdout and bench/results.md
(bench/report.py). Throughput is compared only within this run: the machine
is shared, so absolute figures are noisy while ratios hold, CPU per request
best.
"""

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from bench import cpu
from bench import seed as seeding
from tokenapp.config import DEFAULTS
from tokenapp.config import SERVE_THREADS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = Path(__file__).with_name("wrk.lua")
CONNECTIONS = 8
WRK_TIMEOUT = 10  # seconds; a request slower than this counts as an error
REDIS = "redis://127.0.0.1:6379"
PG_SETTING = "TOKENAPP_BENCH_DATABASE_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/"
# issue 16: name -> goal as a ratio to hello; the hot paths (goal ≥ 1.00) also p99 < 5 ms.
GOALS = {
    "verify PAT": 1.00,
    "verify project key": 1.00,
    "check PAT, project and scope": 1.00,
    "refused unknown token": 1.00,
    "document read": 0.80,
}
HOT = tuple(name for name, goal in GOALS.items() if goal >= 1)
REFUSED = "refused unknown token"  # its 401s are the answer, not errors
# Measured at the largest N only (fast-path servers): issue 7's limits, a write.
EXTRAS = ("verify PAT, limits on", "create PAT (POST)")
USAGE_OFF = "usage counts off"
# Limits and usage counts on vs off: verify at the largest N, the PAT with and
# without limits, on the server as usual and on one with TOKENAPP_USAGE_COUNTS=false.
VARIANTS = (
    ("limits off, usage counts on", "usual", "pat"),
    ("limits on, usage counts on", "usual", "pat_limited"),
    ("limits off, usage counts off", "quiet", "pat"),
    ("limits on, usage counts off", "quiet", "pat_limited"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn master in its own process group, stopped by signalling that group."""

    def __init__(self, name: str, argv: list[str], env: dict, log: Path):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [a.replace("{bind}", f"127.0.0.1:{self.port}") for a in argv]
        self.log = open(log, "w")  # closed in stop
        self.proc = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.base + path, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"{self.name} did not answer {path} within {timeout}s")
        # Both workers up: the master has forked every worker it will.
        while len(self.workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)

    def workers(self) -> list[int]:
        return cpu.process_tree(self.proc.pid)[1:]

    def rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.workers():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def wrk(url: str, duration: float, secret: str | None = None, body: str | None = None) -> dict:
    env = {
        **os.environ,
        "BENCH_SECRET": secret or "",
        "BENCH_METHOD": "POST" if body else "GET",
        "BENCH_BODY": body or "",
    }
    # --timeout: wrk's default of 2 s counts a slow write on a loaded machine as an error.
    seconds = f"-d{max(1, round(duration))}s"
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", seconds, "--timeout", f"{WRK_TIMEOUT}s"]
    argv += ["-s", str(LUA), url]
    out = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration + 30, check=True
    ).stdout
    line = [text for text in out.splitlines() if text.startswith("{")][-1]
    result = json.loads(line)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("non_2xx", "connect", "read", "write", "timeout"))
    return result


def sample(
    server: Server, path: str, duration: float, secret=None, body=None, database=None
) -> dict:
    """wrk against one server, with the CPU its processes spent per completed request.

    database: (URL, application name) of the PostgreSQL backends serving it, whose
    CPU counts too (cpu_us includes db_cpu_us); None for SQLite and hello.
    """
    backends = (lambda: cpu.postgres_backends(*database)) if database else list
    app0, db0 = cpu.snapshot(cpu.process_tree(server.proc.pid)), cpu.snapshot(backends())
    result = wrk(server.base + path, duration, secret, body)
    app1, db1 = cpu.snapshot(cpu.process_tree(server.proc.pid)), cpu.snapshot(backends())
    result["db_cpu_us"] = cpu.per_request_us(db0, db1, result["requests"])
    result["cpu_us"] = cpu.per_request_us(app0, app1, result["requests"]) + result["db_cpu_us"]
    return result


def check_once(
    base: str, path: str, secret: str | None, body: str | None, refused: bool = False
) -> None:
    request = urllib.request.Request(base + path, method="POST" if body else "GET")  # noqa: S310
    if secret:
        request.add_header("Authorization", f"Bearer {secret}")
    if body:
        request.add_header("Content-Type", "application/json")
        request.data = body.encode()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    if status not in ((401,) if refused else (200, 201, 204)):
        raise RuntimeError(f"{path}: {status}")


def targets(fixtures: dict) -> dict[str, tuple[str, str | None, str | None]]:
    """name -> (path, secret, body) for each measured request."""
    create = json.dumps({"note": "bench", "scopes": ["dashboard:view"], "expiration": 30})
    project, document = fixtures["project"], fixtures["document"]
    return {
        "verify PAT": ("/api/v1/auth/verify", fixtures["pat"], None),
        "verify project key": ("/api/v1/auth/verify", fixtures["export_key"], None),
        "check PAT, project and scope": (
            f"/api/v1/auth/check?project={project}&scope=dashboard:view",
            fixtures["pat"],
            None,
        ),
        REFUSED: ("/api/v1/auth/verify", seeding.filler_secret(), None),
        "document read": (
            f"/api/v1/projects/{project}/dashboards/{document}",
            fixtures["pat"],
            None,
        ),
        # issue 7: the same verify with a rate limit and an IP allowlist on the PAT.
        "verify PAT, limits on": ("/api/v1/auth/verify", fixtures["pat_limited"], None),
        "create PAT (POST)": ("/api/v1/personal-access-tokens", fixtures["pat"], create),
    }


@dataclass
class Leg:
    """One tokenapp server: a backend, a database of N tokens, the fast path on or off."""

    backend: str
    n: int
    fast: bool
    fixtures: dict
    names: tuple[str, ...]
    server: "Server | None" = None
    samples: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.backend} N={self.n:,}" + ("" if self.fast else ", Flask path")

    @property
    def database(self) -> tuple[str, str] | None:
        """For bench.run.sample: the PostgreSQL backends serving this leg (PGAPPNAME)."""
        return (self.fixtures["database_url"], self.label) if self.backend == "PostgreSQL" else None

    def env(self, **extra: str) -> dict:
        return {
            "PGAPPNAME": self.label,
            "TOKENAPP_INSTANCE_PATH": self.fixtures["instance"],
            "TOKENAPP_DATABASE_URL": self.fixtures["database_url"],
            "TOKENAPP_FAST_PATH": "true" if self.fast else "false",
            **extra,
        }


def tokenapp_server(name: str, env: dict, log: Path, threads: int = SERVE_THREADS) -> "Server":
    argv = [str(BIN / "tokenapp"), "serve", "--workers", "2", "--threads", str(threads)]
    return Server(name, [*argv, "--bind", "{bind}"], env, log)


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def postgres_server() -> tuple[str | None, str]:
    """(server URL, or None to skip the PostgreSQL leg; the line that says which)."""
    url = os.environ.get(PG_SETTING, PG_DEFAULT).strip()
    if not url:
        return None, f"PostgreSQL leg skipped: {PG_SETTING} is empty."
    try:
        import psycopg2

        parts = urlsplit(url)
        path = parts.path if parts.path not in ("", "/") else "/postgres"
        psycopg2.connect(urlunsplit(parts._replace(path=path)), connect_timeout=3).close()
    except Exception as exc:  # no driver, refused, auth: all mean skip
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, (
            f"PostgreSQL leg skipped: cannot reach {shown(url)} ({first}). Set {PG_SETTING} "
            "to a server where this user may CREATE DATABASE, or to '' to skip it."
        )
    return url, f"PostgreSQL leg on {shown(url)} (a fresh database per N, dropped after)."


def pg_transport(url: str) -> tuple[str, str]:
    """(the URL the servers use, the line saying which transport): a server on this machine
    through its unix socket, as README recommends and bench.inproc does; else TCP."""
    from bench.inproc import transports

    [(label, url)] = transports(url, "socket")
    return url, f"PostgreSQL transport: {label.removeprefix('PostgreSQL, ')} ({shown(url)})."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=12, help="on/off comparison cycles")
    parser.add_argument("--cycle-seconds", type=float, default=1)
    parser.add_argument(
        "--instructions", type=int, default=100, help="requests per target under valgrind; 0 skips"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.md"))
    parser.add_argument("--workdir", help="keep the seeded SQLite files here (default: a temp dir)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: `apt-get install -y wrk` (make bench does it)", file=sys.stderr)
        return 2
    sizes = sorted(int(n) for n in args.sizes.split(","))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="tokenapp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    servers: list[Server] = []
    try:
        with contextlib.ExitStack() as databases:
            return run(args, sizes, work, servers, databases)
    finally:
        for server in servers:
            server.stop()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def round_trip_floor() -> list[tuple]:
    """CPU of one round trip to each shared server this machine runs (bench.roundtrip)."""
    from bench import roundtrip

    url, _ = postgres_server()
    if url is None:
        return []
    try:
        return roundtrip.cpu_per_round_trip(url, os.environ.get("TOKENAPP_REDIS_URL", REDIS))
    except Exception as exc:  # a floor we cannot read leaves the report whole
        print(f"round-trip floor not measured: {exc!r}", flush=True)
        return []


def seed_all(sizes, work, databases) -> tuple[dict, list[str]]:
    """{(backend, N): fixtures}, and the lines saying how long each seeding took."""
    pg_url, pg_note = postgres_server()
    notes = [pg_note]
    print(pg_note, flush=True)
    fixtures = {}
    for backend in ("SQLite", "PostgreSQL"):
        if backend == "PostgreSQL" and pg_url is None:
            continue
        for n in sizes:
            url = None
            if backend == "PostgreSQL":
                name = f"bench_{os.getpid()}_{n}"
                url = databases.enter_context(seeding.postgres_database(pg_url, name))
                url, transport = pg_transport(url)
                notes.append(transport)
            t0, cpu0 = time.monotonic(), os.times()
            fixtures[backend, n] = seeding.seed(work / f"{backend.lower()}-{n}", n, url)
            cpu = os.times()
            cpu_s = (cpu.user - cpu0.user) + (cpu.system - cpu0.system)
            notes.append(
                f"{backend} N={n:,}: seeded in {time.monotonic() - t0:.1f} s wall "
                f"(bulk rows {fixtures[backend, n]['bulk_seconds']:.1f} s), "
                f"{cpu_s:.1f} s CPU in this process"
            )
            print(notes[-1], flush=True)
    return fixtures, notes


def run(args, sizes: list[int], work: Path, servers: list, databases) -> int:
    from bench import instructions
    from bench import report
    from bench import signins

    started = time.monotonic()
    load_before = os.getloadavg()
    fixtures, seed_notes = seed_all(sizes, work, databases)
    backends = list(dict.fromkeys(backend for backend, _ in fixtures))
    small, large = sizes[0], sizes[-1]
    legs = []
    for backend in backends:
        for n in sizes:
            names = (*GOALS, *(EXTRAS if n == large else ()))
            legs.append(Leg(backend, n, True, fixtures[backend, n], names))
        legs.append(Leg(backend, large, False, fixtures[backend, large], HOT))
    hello = Server(
        "hello",
        [str(BIN / "python"), "-m", "bench.hello", "--bind", "{bind}", "--workers", "2"],
        {},
        work / "hello.log",
    )
    servers.append(hello)
    for i, leg in enumerate(legs):
        leg.server = tokenapp_server(leg.label, leg.env(), work / f"tokenapp-{i}.log")
        servers.append(leg.server)
    hello.wait_ready("/hello")
    for leg in legs:
        leg.server.wait_ready("/healthz")
        for name, (path, secret, body) in targets(leg.fixtures).items():
            check_once(leg.server.base, path, secret, body, name == REFUSED)
    # The same instance folder and database as `usual`, with usage counting off.
    usual = next(leg for leg in legs if leg.backend == "SQLite" and leg.n == large and leg.fast)
    quiet = tokenapp_server(
        f"{usual.label}, {USAGE_OFF}",
        usual.env(TOKENAPP_USAGE_COUNTS="false"),
        work / "tokenapp-usage-off.log",
    )
    servers.append(quiet)
    quiet.wait_ready("/healthz")
    # Warm up every worker of every server, then let them settle before the idle RSS.
    wrk(hello.base + "/hello", 1)
    for leg in legs:
        wrk(leg.server.base + "/api/v1/auth/verify", 1, leg.fixtures["pat"])
    wrk(quiet.base + "/api/v1/auth/verify", 1, usual.fixtures["pat"])
    time.sleep(1)
    rss = {"hello": hello.rss_mb(), **{leg.label: leg.server.rss_mb() for leg in legs}}

    # Hello before every sample and at the end of each round: a sample's reference is the
    # mean of hellos[i] and hellos[i + 1], the two taken just around it. (Around a whole
    # leg, 20-30 s apart, the shared machine's load moved hello by ±40% between them: a
    # target's ratio then said more about when it ran than about what it cost.)
    hellos: list[dict] = []
    for round_no in range(args.rounds):
        shift = round_no % len(legs)
        for leg in legs[shift:] + legs[:shift]:
            chosen = {name: t for name, t in targets(leg.fixtures).items() if name in leg.names}
            for name, (path, secret, body) in chosen.items():
                hellos.append(sample(hello, "/hello", args.duration))
                before = len(hellos) - 1
                result = sample(leg.server, path, args.duration, secret, body, leg.database)
                if name == REFUSED:
                    result["errors"] -= result["non_2xx"]
                result["hello"] = before
                leg.samples.setdefault(name, []).append(result)
                print(
                    f"round {round_no + 1}: {leg.label}: {name} {result['rps']:.0f} req/s "
                    f"{result['cpu_us']:.0f} µs CPU/req p99 {result['p99_us'] / 1000:.1f} ms "
                    f"errors {result['errors']} (hello {hellos[before]['rps']:.0f} req/s, "
                    f"{hellos[before]['cpu_us']:.0f} µs)",
                    flush=True,
                )
        hellos.append(sample(hello, "/hello", args.duration))
    paired = compare_switches(args, {"usual": usual.server, "quiet": quiet}, usual.fixtures)
    rss_after = {"hello": hello.rss_mb(), **{leg.label: leg.server.rss_mb() for leg in legs}}
    for server in (hello, quiet, *(leg.server for leg in legs)):
        server.stop()
    sign_ins = {}
    for backend in backends:
        print(f"verify during sign-ins, {backend} N={small:,}", flush=True)
        sign_ins[backend] = signins.run(
            fixtures[backend, small],
            work,
            [1, SERVE_THREADS],
            args.duration,
            {"TOKENAPP_FAST_PATH": "true"},
        )
    counted = instructions.measure(args.instructions, fixtures["SQLite", small])
    floor = round_trip_floor()
    context = {
        "instructions": counted,
        "args": args,
        "sizes": sizes,
        "legs": legs,
        "hellos": hellos,
        "rss": rss,
        "rss_after": rss_after,
        "seed_notes": seed_notes,
        "paired": paired,
        "variants": VARIANTS,
        "sign_ins": sign_ins,
        "load": (load_before, os.getloadavg()),
        "fast_default": DEFAULTS["FAST_PATH"],
        "connections": CONNECTIONS,
        "threads": SERVE_THREADS,
        "goals": GOALS,
        "hot": HOT,
        "floor": floor,
    }
    text = report.render(context) + f"\nWhole run: {time.monotonic() - started:.0f} s.\n"
    print(text)
    Path(args.out).write_text(text)
    print(f"written to {args.out}")
    errors = sum(r["errors"] for leg in legs for rs in leg.samples.values() for r in rs)
    return 1 if errors else 0


def compare_switches(args, servers: dict, fixtures: dict) -> dict[str, list[float]]:
    """req/s of each VARIANTS entry, one short sample per cycle, in rotating order.

    A difference of a few per cent is below what 5-second samples minutes apart
    can show on a shared machine; ratios taken within a cycle of 4 short
    samples, and their median over the cycles, are steady.
    """
    paired: dict[str, list[float]] = {}
    limited = itertools.cycle(fixtures["pat_limited_pool"])  # none reaches its limit (seed.py)
    for cycle in range(args.cycles):
        shift = cycle % len(VARIANTS)
        for label, server, fixture in VARIANTS[shift:] + VARIANTS[:shift]:
            secret = next(limited) if fixture == "pat_limited" else fixtures[fixture]
            result = wrk(servers[server].base + "/api/v1/auth/verify", args.cycle_seconds, secret)
            if result["errors"]:
                raise RuntimeError(f"{label}: {result['errors']} errors")
            paired.setdefault(label, []).append(result["rps"])
        print(
            f"cycle {cycle + 1}: "
            + ", ".join(f"{label} {rates[-1]:.0f}" for label, rates in paired.items()),
            flush=True,
        )
    return paired


if __name__ == "__main__":
    sys.exit(main())
