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
import urllib.request
from pathlib import Path

from bench import seed as seeding

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = Path(__file__).with_name("wrk.lua")
CONNECTIONS = 8
GOAL_VERIFY = 0.90
GOAL_SIZE = 0.95
GOAL_P99_MS = 10.0
GOAL_RSS_MB = 80.0
GOAL_LIMITS = 0.90
# Measured again at the largest N on a server with TOKENAPP_USAGE_COUNTS=false.
SWITCHED = ("verify PAT", "verify PAT, limits on")
USAGE_OFF = "usage counts off"


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
            "document read",
            f"/api/v1/projects/{fixtures['project']}/dashboards/{fixtures['document']}",
            fixtures["pat"],
            None,
        ),
        # issue 7: the same verify with a rate limit and an IP allowlist on the PAT.
        ("verify PAT, limits on", "/api/v1/auth/verify", fixtures["pat_limited"], None),
        ("create PAT (POST)", "/api/v1/personal-access-tokens", fixtures["pat"], create),
    ]


def check_once(base: str, path: str, secret: str | None, body: str | None) -> None:
    request = urllib.request.Request(base + path, method="POST" if body else "GET")  # noqa: S310
    if secret:
        request.add_header("Authorization", f"Bearer {secret}")
    if body:
        request.add_header("Content-Type", "application/json")
        request.data = body.encode()
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        if response.status not in (200, 201):
            raise RuntimeError(f"{path}: {response.status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
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
        for _, path, secret, body in targets(fixtures[n]):
            check_once(apps[n].base, path, secret, body)
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
                samples.setdefault((name, n), []).append(result)
                print(
                    f"round {round_no + 1}: {name} N={n:,} {result['rps']:.0f} req/s "
                    f"p99 {result['p99_us'] / 1000:.1f} ms errors {result['errors']}",
                    flush=True,
                )
        for name in SWITCHED:
            t = {t[0]: t for t in targets(fixtures[large])}[name]
            result = wrk(quiet.base + t[1], args.duration, t[2], t[3])
            samples.setdefault((name, USAGE_OFF), []).append(result)
            print(
                f"round {round_no + 1}: {name}, {USAGE_OFF} N={large:,} {result['rps']:.0f} "
                f"req/s p99 {result['p99_us'] / 1000:.1f} ms errors {result['errors']}",
                flush=True,
            )
    rss_after = {"hello": hello.rss_mb(), **{n: apps[n].rss_mb() for n in sizes}}
    report = render(args, sizes, names, samples, rss, rss_after, seed_notes, started)
    print(report)
    Path(args.out).write_text(report)
    print(f"written to {args.out}")
    errors = sum(r["errors"] for results in samples.values() for r in results)
    return 1 if errors else 0


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def render(args, sizes, names, samples, rss, rss_after, seed_notes, started) -> str:
    hello = median(samples[("hello", None)], "rps")
    small, large = sizes[0], sizes[-1]
    lines = [
        "# make bench results",
        "",
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"(load average before the run's end: {os.getloadavg()[0]:.1f}); gunicorn 2 sync workers "
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
    rows += [(name, USAGE_OFF, f"{large:,}, {USAGE_OFF}") for name in SWITCHED]
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

    for name in ("verify PAT", "verify project key"):
        ratio = median(samples[(name, large)], "rps") / hello
        lines.append(
            f"- {name} at N={large:,}: {ratio:.2f}× hello (goal ≥ {GOAL_VERIFY}): "
            f"{verdict(ratio >= GOAL_VERIFY)}"
        )
    if large != small:
        for name in names:
            ratio = median(samples[(name, large)], "rps") / median(samples[(name, small)], "rps")
            goal = ""
            if name.startswith("verify"):
                goal = f" (goal ≥ {GOAL_SIZE}): {verdict(ratio >= GOAL_SIZE)}"
            lines.append(f"- {name}: N={large:,} / N={small:,} = {ratio:.2f}{goal}")
    worst = max(median(samples[(name, n)], "p99_us") for name in names[:3] for n in sizes) / 1000
    lines.append(
        f"- worst p99 of the reads (verify, document): {worst:.2f} ms (goal < {GOAL_P99_MS:g} ms): "
        f"{verdict(worst < GOAL_P99_MS)}"
    )

    def rps(name: str, key) -> float:
        return median(samples[(name, key)], "rps")

    plain, limited = SWITCHED
    for usage_label, key in (("usage counts on", large), (USAGE_OFF, USAGE_OFF)):
        ratio = rps(limited, key) / rps(plain, key)
        lines.append(
            f"- limits on / off (rate limit + IP allowlist), {usage_label}, N={large:,}: "
            f"{ratio:.2f} (issue 7 goal ≥ {GOAL_LIMITS}): {verdict(ratio >= GOAL_LIMITS)}"
        )
    for limits_label, name in (("limits off", plain), ("limits on", limited)):
        ratio = rps(name, large) / rps(name, USAGE_OFF)
        lines.append(
            f"- usage counts on / off, {limits_label}, N={large:,}: {ratio:.2f} "
            f"(issue 7 goal ≥ {GOAL_LIMITS}): {verdict(ratio >= GOAL_LIMITS)}"
        )
    both = rps(limited, large) / rps(plain, USAGE_OFF)
    lines.append(
        f"- limits and usage counts both on / both off, N={large:,}: {both:.2f} "
        f"(issue 7 goal ≥ {GOAL_LIMITS}): {verdict(both >= GOAL_LIMITS)}"
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
        "Usage counts are on in every row but the two marked 'usage counts off' (a server on "
        "the largest database with TOKENAPP_USAGE_COUNTS=false). 'limits on' is a PAT with a "
        "rate limit of 100,000/min and an IP allowlist.",
        "Profile of verify and what was changed: bench/profile.md.",
        "",
        f"Whole run: {time.monotonic() - started:.0f} s.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
