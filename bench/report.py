"""make bench's report: the goals table first, then every figure it was made from.

bench.run measures and hands over one dict (`render`'s argument); nothing here
measures. Each sample is set against the two hello samples taken around it,
by req/s and by server CPU per request (bench.figures); each figure is the
median over the rounds.
"""

import datetime
import os
import statistics

from bench import instructions
from bench import signins
from bench.figures import around
from bench.figures import median
from bench.figures import ratio
from bench.figures import ratios
from bench.figures import spread
from bench.figures import steadiness

GOAL_P99_MS = 5.0  # issue 16: the hot paths at 8 connections
GOAL_SIGN_IN_P99_MS = 20.0  # issue 16: the API while 4 people sign in
GOAL_SIZE = 0.95  # verify at the largest N over the smallest (issue 2)
GOAL_RSS_MB = 80.0
GOAL_LIMITS = 0.90  # issue 7
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


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def render(c: dict) -> str:
    counted = instructions.section(*c.get("instructions", ({}, "")))
    sections = header(c) + goals(c) + fast_vs_flask(c) + details(c) + counted + others(c)
    return "\n".join(sections + switches(c) + sign_ins(c) + floor(c))


def floor(c: dict) -> list[str]:
    """What one round trip to a shared server costs: the least any per-request check against
    PostgreSQL (the auth cache's counter) or Redis adds to hello's CPU per request."""
    if not c.get("floor"):
        return []
    hello = statistics.median(h["cpu_us"] for h in c["hellos"])
    lines = [
        "## The floor of a round trip",
        "",
        "CPU one round trip costs this process and the server that answers it (bench.roundtrip, "
        "20,000 calls, from /proc), beside hello's median CPU per request in this run "
        f"({hello:.0f} "
        "µs under gunicorn). A credential checked against shared state on every request pays at "
        "least this much more than a route that reads nothing; the auth cache's hit on "
        "PostgreSQL is one such statement.",
        "",
        "| one round trip | this process, µs | the server, µs | both, µs | × hello's CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {label} | {client:.1f} | {server:.1f} | {client + server:.1f} | "
        f"{(client + server) / hello:.2f} |"
        for label, client, server in c["floor"]
    ]
    return [*lines, ""]


def header(c: dict) -> list[str]:
    args = c["args"]
    (b1, b5, _), (e1, e5, _) = c["load"]
    fast = "on" if c["fast_default"] else "off"
    return [
        "# make bench results",
        "",
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} "
        f"cores, shared: load average (1 min / 5 min) {b1:.1f} / {b5:.1f} at the start, "
        f"{e1:.1f} / {e5:.1f} at the end. Every app under gunicorn, 2 workers × "
        f"{c['threads']} threads (gthread, `tokenapp serve`'s default); wrk 1 thread, "
        f"{c['connections']} connections, {args.duration:g} s per sample, {args.rounds} rounds, "
        "the legs in rotating order, hello-world sampled before and after every sample. "
        "× hello: each sample against the mean of the two hello samples around it, median over "
        "the rounds. Read the ratios, not the absolute figures.",
        "",
        "Two measures, both against hello. **CPU/request** (the goals' measure): utime + stime "
        "of every process of the server (gunicorn's master and workers; on PostgreSQL also the "
        "database backends serving it) read from /proc before and after each sample, over the "
        "requests wrk completed; × hello = hello's µs per request ÷ the target's, ≥ 1.00 as "
        "cheap as hello. It is judged because it moves less with the machine's other load: "
        "req/s also moves with wrk, the other servers and other jobs on the same "
        f"{os.cpu_count()} cores, so a req/s ratio says as much about the neighbours as about "
        "the code (how much each moved: 'Steadiness', under every figure). "
        "**req/s** × hello stays beside it: what a client sees on this machine today.",
        "",
        "The fast path is set explicitly: TOKENAPP_FAST_PATH=true on every server but the "
        f"'Flask path' ones (=false). tokenapp's default today: {fast}.",
        "",
    ]


def _fast_legs(c: dict) -> list:
    return [leg for leg in c["legs"] if leg.fast]


def goals(c: dict) -> list[str]:
    legs = _fast_legs(c)
    hellos = c["hellos"]
    small = c["sizes"][0]
    lines = [
        "## Issue 16's goals (fast path on)",
        "",
        "| goal | " + " | ".join(leg.label for leg in legs) + " |",
        "|---|" + "---:|" * len(legs),
    ]
    for name, goal in c["goals"].items():
        cells = []
        for leg in legs:
            cpu = ratio(hellos, leg.samples[name], "cpu")
            rps = ratio(hellos, leg.samples[name])
            cells.append(f"{cpu:.2f}× CPU {verdict(cpu >= goal)} ({rps:.2f}× req/s)")
        lines.append(f"| {name} ≥ {goal:.2f}× hello | " + " | ".join(cells) + " |")
    for name in c["hot"]:
        cells = []
        for leg in legs:
            samples = leg.samples[name]
            p99 = median(samples, "p99_us") / 1000
            floor = statistics.median(around(hellos, r, "p99_us") for r in samples) / 1000
            cells.append(f"{p99:.1f} ms {verdict(p99 < GOAL_P99_MS)} (hello {floor:.1f} ms)")
        lines.append(
            f"| p99 of {name}, {c['connections']} connections < {GOAL_P99_MS:g} ms | "
            + " | ".join(cells)
            + " |"
        )
    for threads, when in ((1, "before: 2 sync workers"), (c["threads"], "after: serve's threads")):
        cells = []
        for leg in legs:
            rows = [
                r
                for r in c["sign_ins"].get(leg.backend, [])
                if r["threads"] == threads and r["signing"]
            ]
            if leg.n != small or not rows:
                cells.append("–")
                continue
            p99 = rows[0]["p99_us"] / 1000
            cells.append(f"{p99:.1f} ms {verdict(p99 < GOAL_SIGN_IN_P99_MS)}")
        lines.append(
            f"| verify p99 during 4 looping sign-ins ({when}) < {GOAL_SIGN_IN_P99_MS:g} ms | "
            + " | ".join(cells)
            + " |"
        )
    note = (
        "p99: hello's own in brackets, from the hello samples around the same samples: "
        "the floor this machine allows."
    )
    return [*lines, "", note, ""]


def fast_vs_flask(c: dict) -> list[str]:
    hellos = c["hellos"]
    flask = {leg.backend: leg for leg in c["legs"] if not leg.fast}
    fast = {leg.backend: leg for leg in _fast_legs(c) if leg.backend in flask}
    fast = {b: leg for b, leg in fast.items() if leg.n == flask[b].n}
    if not flask:
        return []
    lines = [
        f"## Fast path on vs off (N={c['sizes'][-1]:,}), × hello",
        "",
        "| request | "
        + " | ".join(f"{b}: fast path | {b}: Flask path | {b}: fast / Flask" for b in flask)
        + " |",
        "|---|" + "---:|---:|---:|" * len(flask),
    ]
    for name in c["hot"]:
        cells = []
        for backend, leg in flask.items():
            on = ratio(hellos, fast[backend].samples[name])
            off = ratio(hellos, leg.samples[name])
            cells += [f"{on:.2f}", f"{off:.2f}", f"{on / off:.2f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def details(c: dict) -> list[str]:
    hellos = c["hellos"]
    rates, cpus = [r["rps"] for r in hellos], [r["cpu_us"] for r in hellos]
    lines = [
        "## Every figure",
        "",
        "Medians over the rounds, lowest–highest in brackets. µs CPU/request: on PostgreSQL, "
        "the database backends' share in brackets.",
        "",
        "| server | request | req/s | × hello, req/s | µs CPU/request | × hello, CPU | "
        "p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| hello-world Flask route | GET /hello | {median(hellos, 'rps'):.0f} "
        f"({min(rates):.0f}–{max(rates):.0f}) | 1.00 | {median(hellos, 'cpu_us'):.0f} "
        f"({min(cpus):.0f}–{max(cpus):.0f}) | 1.00 | {median(hellos, 'p50_us') / 1000:.2f} | "
        f"{median(hellos, 'p99_us') / 1000:.2f} | {sum(r['errors'] for r in hellos)} |",
    ]
    for leg in c["legs"]:
        for name in leg.names:
            results = leg.samples[name]
            db = f" ({median(results, 'db_cpu_us'):.0f})" if leg.backend == "PostgreSQL" else ""
            lines.append(
                f"| {leg.label} | {name} | {median(results, 'rps'):.0f} | "
                f"{spread(ratios(hellos, results))} | {median(results, 'cpu_us'):.0f}{db} | "
                f"{spread(ratios(hellos, results, 'cpu'))} | "
                f"{median(results, 'p50_us') / 1000:.2f} | "
                f"{median(results, 'p99_us') / 1000:.2f} | {sum(r['errors'] for r in results)} |"
            )
    return [*lines, "", steadiness(hellos, c["legs"]), ""]


def others(c: dict) -> list[str]:
    hellos = c["hellos"]
    small, large = c["sizes"][0], c["sizes"][-1]
    lines = ["## Size, memory, seeding", ""]
    legs = {(leg.backend, leg.n): leg for leg in _fast_legs(c)}
    if large != small:
        for backend in dict.fromkeys(b for b, _ in legs):
            for name in ("verify PAT", "verify project key"):
                value = ratio(hellos, legs[backend, large].samples[name]) / ratio(
                    hellos, legs[backend, small].samples[name]
                )
                lines.append(
                    f"- {backend}, {name}: N={large:,} / N={small:,} = {value:.2f} "
                    f"(goal ≥ {GOAL_SIZE}): {verdict(value >= GOAL_SIZE)}"
                )
    biggest = max(max(v) for v in c["rss"].values() if v)
    lines.append(
        "- idle RSS per worker (VmRSS): "
        + "; ".join(f"{k} {', '.join(f'{m:.0f}' for m in v)} MB" for k, v in c["rss"].items())
        + f" (goal < {GOAL_RSS_MB:g} MB): {verdict(biggest < GOAL_RSS_MB)}"
    )
    lines.append(
        "- RSS per worker after the run: "
        + "; ".join(f"{k} {', '.join(f'{m:.0f}' for m in v)} MB" for k, v in c["rss_after"].items())
    )
    lines += [f"- {note}" for note in c["seed_notes"]]
    lines += [
        "",
        "Usage counts are on in every row above; 'verify PAT, limits on' is a PAT with a rate "
        "limit of 100,000/min and an IP allowlist (the fast path answers it, limits "
        "included). Profile of verify: bench/profile.md.",
        "",
    ]
    return lines


def switches(c: dict) -> list[str]:
    args, paired = c["args"], c["paired"]
    lines = [
        f"## Limits and usage counts, on vs off (verify PAT, SQLite, N={c['sizes'][-1]:,})",
        "",
        f"{args.cycles} cycles; in each, the four variants below for {args.cycle_seconds:g} s "
        "each, in rotating order. Each ratio is taken within a cycle; the median over the "
        "cycles is given with the middle half of them. 'limits on' is a PAT with a rate limit "
        "of 100,000/min and an IP allowlist; 'usage counts off' is a server on the same "
        "database with TOKENAPP_USAGE_COUNTS=false. Both servers have the fast path on, "
        "which answers a rate-limited credential too.",
        "",
        "| verify PAT | median req/s |",
        "|---|---:|",
    ]
    lines += [
        f"| {label} | {statistics.median(paired[label]):.0f} |" for label, *_ in c["variants"]
    ]
    lines.append("")
    for title, on, off in RATIOS:
        ratios = [a / b for a, b in zip(paired[on], paired[off], strict=True)]
        low, mid, high = statistics.quantiles(ratios, n=4)
        lines.append(
            f"- {title}: {mid:.2f} (middle half {low:.2f}–{high:.2f}; issue 7 goal ≥ "
            f"{GOAL_LIMITS}): {verdict(mid >= GOAL_LIMITS)}"
        )
    return [*lines, ""]


def sign_ins(c: dict) -> list[str]:
    lines = []
    for backend, rows in c["sign_ins"].items():
        lines += [
            f"## verify while 4 people sign in (bcrypt cost 12), {backend} N={c['sizes'][0]:,}",
            "",
            "Before: 2 sync workers (`--threads 1`); after: tokenapp serve's default.",
            "",
            *signins.table(rows),
            "",
        ]
    return lines
