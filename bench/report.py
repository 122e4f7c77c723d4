"""make bench's report: the goals table first, then every figure it was made from.

bench.run measures and hands over one dict (`render`'s argument); nothing here
measures. A sample's ratio is its req/s over the mean of the two hello
samples taken around its leg; each figure is the median over the rounds.
"""

import datetime
import os
import statistics

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


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def ratio(hellos: list[dict], results: list[dict]) -> float:
    """Median over the rounds of req/s over the mean of the hellos around the sample."""
    return statistics.median(
        r["rps"] / ((hellos[r["hello"]]["rps"] + hellos[r["hello"] + 1]["rps"]) / 2)
        for r in results
    )


def render(c: dict) -> str:
    return "\n".join(
        header(c) + goals(c) + fast_vs_flask(c) + details(c) + others(c) + switches(c) + sign_ins(c)
    )


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
        "× hello: each sample over the mean of the two hello samples around it, median over "
        "the rounds. Read the ratios, not the absolute figures.",
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
            value = ratio(hellos, leg.samples[name])
            cells.append(f"{value:.2f}× {verdict(value >= goal)}")
        lines.append(f"| {name} ≥ {goal:.2f}× hello | " + " | ".join(cells) + " |")
    for name in c["hot"]:
        cells = []
        for leg in legs:
            p99 = median(leg.samples[name], "p99_us") / 1000
            cells.append(f"{p99:.1f} ms {verdict(p99 < GOAL_P99_MS)}")
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
    return [*lines, ""]


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
    lines = [
        "## Every figure",
        "",
        "| server | request | req/s | p50 ms | p99 ms | × hello | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| hello-world Flask route | GET /hello | {median(hellos, 'rps'):.0f} | "
        f"{median(hellos, 'p50_us') / 1000:.2f} | {median(hellos, 'p99_us') / 1000:.2f} | 1.00 | "
        f"{sum(r['errors'] for r in hellos)} |",
    ]
    for leg in c["legs"]:
        for name in leg.names:
            results = leg.samples[name]
            lines.append(
                f"| {leg.label} | {name} | {median(results, 'rps'):.0f} | "
                f"{median(results, 'p50_us') / 1000:.2f} | "
                f"{median(results, 'p99_us') / 1000:.2f} | "
                f"{ratio(hellos, results):.2f} | {sum(r['errors'] for r in results)} |"
            )
    return [*lines, ""]


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
    from bench import signins

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
