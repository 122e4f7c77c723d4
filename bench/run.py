"""make bench: tokenapp against a hello-world Flask app, interleaved in one run.

    python -m bench.run [--sizes 1000,1000000] [--duration 5] [--rounds 3]

Seeds one database per N (bench.seed), starts `tokenapp serve --workers 2` on
each and the hello-world app (bench.hello) with the same gunicorn settings,
then runs wrk (8 connections, one target at a time) round after round:
hello, then every target on every N. Medians over the rounds go to a table on
stdout and to bench/results.md. Throughput is compared only within this run:
the machine is shared, so absolute figures are noisy while ratios hold.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench import seed as seeding
from tokenapp.config import SERVE_THREADS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = Path(__file__).with_name("wrk.lua")
CONNECTIONS = 8
GOAL_VERIFY = 1.00  # issue 16: verify, check and a refused token at least hello's speed
GOAL_DOCUMENT = 0.80
GOAL_SIZE = 0.95
GOAL_P99_MS = 5.0
GOAL_RSS_MB = 80.0
GOAL_LIMITS = 0.90
USAGE_OFF = "usage counts off"
HOT = ("verify PAT", "verify project key", "check PAT, project and scope", "refused unknown token")
REFUSED = "refused unknown token"  # its 401s are the answer, not errors
# Limits and usage counts on vs off: verify at the largest N, the PAT with and
# without limits, on the server as usual and on one with TOKENAPP_USAGE_COUNTS=false.
VARIANTS = (
    ("limits off, usage counts on", "usual", "pat"),
    ("limits on, usage counts on", "usual", "pat_limited"),
    ("limits off, usage counts off", "quiet", "pat"),
    ("limits on, usage counts off", "quiet", "pat_limited"),
)
RATIOS = (
    (
        "limits on / off, usage counts on",
        "limits on, usage counts on",
        "limits off, usage counts on",
    ),
    (
        "limits on / off, usage counts off",
        "limits on, usage counts off",
        "limits off, usage counts off",
    ),
    (
        "usage counts on / off, limits off",
        "limits off, usage counts on",
        "limits off, usage counts off",
    ),
    (
        "limits and usage counts both on / both off",
        "limits on, usage counts on",
        "limits off, usage counts off",
    ),
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
        self.log = open(log, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(  # noqa: S603
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
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

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
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(duration))}s", "-s", str(LUA), url]
    out = subprocess.run(  # noqa: S603
        argv, env=env, capture_output=True, text=True, timeout=duration + 30, check=True
    ).stdout
    line = [text for text in out.splitlines() if text.startswith("{")][-1]
    result = json.loads(line)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("non_2xx", "connect", "read", "write", "timeout"))
    return result


def targets(fixtures: dict) -> list[tuple[str, str, str | None, str | None]]:
    """(name, path, secret, body) for each measured request."""
    create = json.dumps({"note": "bench", "scopes": ["dashboard:view"], "expiration": 30})
    return [
        ("verify PAT", "/api/v1/auth/verify", fixtures["pat"], None),
        ("verify project key", "/api/v1/auth/verify", fixtures["export_key"], None),
        (
            "check PAT, project and scope",
            f"/api/v1/auth/check?project={fixtures['project']}&scope=dashboard:view",
            fixtures["pat"],
            None,
        ),
        (REFUSED, "/api/v1/auth/verify", seeding.filler_secret(), None),
        (
            "document read",
            f"/api/v1/projects/{fixtures['project']}/dashboards/{fixtures['document']}",
            fixtures["pat"],
            None,
        ),
        # issue 7: the same verify with a rate limit and an IP allowlist on the PAT.
        ("verify PAT, limits on", "/api/v1/auth/verify", fixtures["pat_limited"], None),
        ("create PAT (POST)", "/api/v1/personal-access-tokens", fixtures["pat"], create),
    ]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=12, help="on/off comparison cycles")
    parser.add_argument("--cycle-seconds", type=float, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.md"))
    parser.add_argument("--workdir", help="keep the seeded databases here (default: a temp dir)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: `apt-get install -y wrk` (make bench does it)", file=sys.stderr)
        return 2
    sizes = [int(n) for n in args.sizes.split(",")]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="tokenapp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    servers: list[Server] = []
    try:
        return run(args, sizes, work, servers)
    finally:
        for server in servers:
            server.stop()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def run(args, sizes: list[int], work: Path, servers: list[Server]) -> int:
    started = time.monotonic()
    fixtures = {}
    seed_notes = []
    for n in sizes:
        t0 = time.monotonic()
        cpu0 = os.times()
        fixtures[n] = seeding.seed(work / f"n{n}", n)
        cpu = os.times()
        seconds = time.monotonic() - t0
        cpu_s = (cpu.user - cpu0.user) + (cpu.system - cpu0.system)
        seed_notes.append(f"N={n:,}: seeded in {seconds:.1f} s wall, {cpu_s:.1f} s CPU")
        print(seed_notes[-1], flush=True)

    hello = Server(
        "hello",
        [str(BIN / "python"), "-m", "bench.hello", "--bind", "{bind}", "--workers", "2"],
        {},
        work / "hello.log",
    )
    servers.append(hello)
    apps = {}
    for n in sizes:
        env = {
            "TOKENAPP_INSTANCE_PATH": fixtures[n]["instance"],
            "TOKENAPP_DATABASE_URL": fixtures[n]["database_url"],
        }
        apps[n] = Server(
            f"tokenapp N={n}",
            [str(BIN / "tokenapp"), "serve", "--workers", "2", "--bind", "{bind}"],
            env,
            work / f"tokenapp-{n}.log",
        )
        servers.append(apps[n])
    large = sizes[-1]
    quiet = Server(
        f"tokenapp N={large}, {USAGE_OFF}",
        [str(BIN / "tokenapp"), "serve", "--workers", "2", "--bind", "{bind}"],
        {
            "TOKENAPP_INSTANCE_PATH": fixtures[large]["instance"],
            "TOKENAPP_DATABASE_URL": fixtures[large]["database_url"],
            "TOKENAPP_USAGE_COUNTS": "false",
        },
        work / "tokenapp-usage-off.log",
    )
    servers.append(quiet)
    hello.wait_ready("/hello")
    quiet.wait_ready("/healthz")
    for n in sizes:
        apps[n].wait_ready("/healthz")
        for name, path, secret, body in targets(fixtures[n]):
            check_once(apps[n].base, path, secret, body, name == REFUSED)
    # Warm up every worker of every server, then let them settle before the idle RSS.
    wrk(hello.base + "/hello", 1)
    for n in sizes:
        wrk(apps[n].base + "/api/v1/auth/verify", 1, fixtures[n]["pat"])
    wrk(quiet.base + "/api/v1/auth/verify", 1, fixtures[large]["pat"])
    time.sleep(1)
    rss = {"hello": hello.rss_mb(), **{n: apps[n].rss_mb() for n in sizes}}

    samples: dict[tuple, list[dict]] = {}
    names = [name for name, *_ in targets(fixtures[sizes[0]])]
    for round_no in range(args.rounds):
        result = wrk(hello.base + "/hello", args.duration)
        samples.setdefault(("hello", None), []).append(result)
        print(f"round {round_no + 1}: hello {result['rps']:.0f} req/s", flush=True)
        for name in names:
            for n in sizes:
                t = {t[0]: t for t in targets(fixtures[n])}[name]
                result = wrk(apps[n].base + t[1], args.duration, t[2], t[3])
                if name == REFUSED:
                    result["errors"] -= result["non_2xx"]
                samples.setdefault((name, n), []).append(result)
                print(
                    f"round {round_no + 1}: {name} N={n:,} {result['rps']:.0f} req/s "
                    f"p99 {result['p99_us'] / 1000:.1f} ms errors {result['errors']}",
                    flush=True,
                )
    paired = compare_switches(args, {"usual": apps[large], "quiet": quiet}, fixtures[large])
    rss_after = {"hello": hello.rss_mb(), **{n: apps[n].rss_mb() for n in sizes}}
    report = render(args, sizes, names, samples, rss, rss_after, seed_notes)
    report += render_switches(args, large, paired)
    report += render_signins(args, fixtures[sizes[0]], work)
    report += f"\nWhole run: {time.monotonic() - started:.0f} s.\n"
    print(report)
    Path(args.out).write_text(report)
    print(f"written to {args.out}")
    errors = sum(r["errors"] for results in samples.values() for r in results)
    return 1 if errors else 0


def compare_switches(args, servers: dict, fixtures: dict) -> dict[str, list[float]]:
    """req/s of each VARIANTS entry, one short sample per cycle, in rotating order.

    A difference of a few per cent is below what 5-second samples minutes apart
    can show on a shared machine; ratios taken within a cycle of 4 short
    samples, and their median over the cycles, are steady.
    """
    paired: dict[str, list[float]] = {}
    for cycle in range(args.cycles):
        shift = cycle % len(VARIANTS)
        for label, server, fixture in VARIANTS[shift:] + VARIANTS[:shift]:
            result = wrk(
                servers[server].base + "/api/v1/auth/verify", args.cycle_seconds, fixtures[fixture]
            )
            if result["errors"]:
                raise RuntimeError(f"{label}: {result['errors']} errors")
            paired.setdefault(label, []).append(result["rps"])
        print(
            f"cycle {cycle + 1}: "
            + ", ".join(f"{label} {rates[-1]:.0f}" for label, rates in paired.items()),
            flush=True,
        )
    return paired


def render_switches(args, large: int, paired: dict[str, list[float]]) -> str:
    lines = [
        "",
        f"## Limits and usage counts, on vs off (verify PAT, N={large:,})",
        "",
        f"{args.cycles} cycles; in each, the four variants below for {args.cycle_seconds:g} s "
        "each, in rotating order. Each ratio is taken within a cycle; the median over the "
        "cycles is given with the middle half of them. 'limits on' is a PAT with a rate limit "
        "of 100,000/min and an IP allowlist; 'usage counts off' is a server on the same "
        "database with TOKENAPP_USAGE_COUNTS=false.",
        "",
        "| verify PAT | median req/s |",
        "|---|---:|",
    ]
    lines += [f"| {label} | {statistics.median(paired[label]):.0f} |" for label, *_ in VARIANTS]
    lines.append("")
    for title, on, off in RATIOS:
        ratios = [a / b for a, b in zip(paired[on], paired[off], strict=True)]
        low, mid, high = statistics.quantiles(ratios, n=4)
        ok = "met" if mid >= GOAL_LIMITS else "**not met**"
        lines.append(
            f"- {title}: {mid:.2f} (middle half {low:.2f}–{high:.2f}; issue 7 goal ≥ "
            f"{GOAL_LIMITS}): {ok}"
        )
    return "\n".join(lines) + "\n"


def render_signins(args, fixtures: dict, work: Path) -> str:
    from bench import signins

    lines = [
        "",
        f"## verify while 4 people sign in (bcrypt cost 12), N={fixtures['count']:,}",
        "",
        "Before: 2 sync workers (`--threads 1`); after: tokenapp serve's default.",
        "",
    ]
    lines += signins.run(fixtures, work, [1, SERVE_THREADS], args.duration)
    return "\n".join(lines) + "\n"


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def render(args, sizes, names, samples, rss, rss_after, seed_notes) -> str:
    hello = median(samples[("hello", None)], "rps")
    small, large = sizes[0], sizes[-1]
    lines = [
        "# make bench results",
        "",
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"(load average before the run's end: {os.getloadavg()[0]:.1f}); gunicorn 2 workers × "
        f"{SERVE_THREADS} threads (gthread) "
        f"per app; wrk 1 thread, {CONNECTIONS} connections, {args.duration:g} s per sample, "
        f"{args.rounds} interleaved rounds, medians. The machine is shared: read the ratios, "
        "not the absolute figures.",
        "",
        "| request | N | req/s | p50 ms | p99 ms | × hello | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| hello-world Flask route | – | {hello:.0f} | "
        f"{median(samples[('hello', None)], 'p50_us') / 1000:.2f} | "
        f"{median(samples[('hello', None)], 'p99_us') / 1000:.2f} | 1.00 | "
        f"{sum(r['errors'] for r in samples[('hello', None)])} |",
    ]
    rows = [(name, n, f"{n:,}") for name in names for n in sizes]
    for name, key, label in rows:
        results = samples[(name, key)]
        rps = median(results, "rps")
        lines.append(
            f"| {name} | {label} | {rps:.0f} | {median(results, 'p50_us') / 1000:.2f} | "
            f"{median(results, 'p99_us') / 1000:.2f} | {rps / hello:.2f} | "
            f"{sum(r['errors'] for r in results)} |"
        )
    lines += ["", "## Goals", ""]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    for name in (*HOT, "document read"):
        goal = GOAL_DOCUMENT if name == "document read" else GOAL_VERIFY
        for n in sizes:
            ratio = median(samples[(name, n)], "rps") / hello
            lines.append(
                f"- {name} at N={n:,}: {ratio:.2f}× hello (goal ≥ {goal:.2f}): "
                f"{verdict(ratio >= goal)}"
            )
    if large != small:
        for name in names:
            ratio = median(samples[(name, large)], "rps") / median(samples[(name, small)], "rps")
            goal = ""
            if name.startswith("verify"):
                goal = f" (goal ≥ {GOAL_SIZE}): {verdict(ratio >= GOAL_SIZE)}"
            lines.append(f"- {name}: N={large:,} / N={small:,} = {ratio:.2f}{goal}")
    worst = max(median(samples[(name, n)], "p99_us") for name in HOT for n in sizes) / 1000
    lines.append(
        f"- worst p99 of the hot paths (verify, check, refused): {worst:.2f} ms "
        f"(goal < {GOAL_P99_MS:g} ms): "
        f"{verdict(worst < GOAL_P99_MS)}"
    )

    biggest = max(max(v) for v in rss.values() if v)
    lines.append(
        "- idle RSS per worker (VmRSS): "
        + "; ".join(
            f"{'hello' if k == 'hello' else f'N={k:,}'} {', '.join(f'{m:.0f}' for m in v)} MB"
            for k, v in rss.items()
        )
        + f" (goal < {GOAL_RSS_MB:g} MB): {verdict(biggest < GOAL_RSS_MB)}"
    )
    lines.append(
        "- RSS per worker after the run: "
        + "; ".join(
            f"{'hello' if k == 'hello' else f'N={k:,}'} {', '.join(f'{m:.0f}' for m in v)} MB"
            for k, v in rss_after.items()
        )
    )
    lines += ["", "## Seeding", ""] + [f"- {note}" for note in seed_notes]
    lines += [
        "",
        "Usage counts are on in every row above; 'verify PAT, limits on' is a PAT with a rate "
        "limit of 100,000/min and an IP allowlist. Limits and usage counts on vs off: below.",
        "Profile of verify and what was changed: bench/profile.md.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
