"""make bench's arithmetic: each sample against the hello-world samples around it.

bench.run takes hello before every sample and once more at the end of each
round, and records in each sample the index of the hello just before it
("hello"); that one and the next are the two around it. A sample holds wrk's
figures (rps, p50_us, p99_us, ...) and the server's CPU per request (cpu_us).
"""

import statistics


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def around(hellos: list[dict], result: dict, key: str) -> float:
    """The mean of `key` over the two hello samples taken around `result`."""
    return (hellos[result["hello"]][key] + hellos[result["hello"] + 1][key]) / 2


def ratios(hellos: list[dict], results: list[dict], measure: str = "rps") -> list[float]:
    """Each sample against the hellos around it, ≥ 1 when it is at least as good.

    "rps": its req/s over hello's; "cpu": hello's CPU per request over its own.
    """
    if measure == "cpu":
        return [around(hellos, r, "cpu_us") / r["cpu_us"] for r in results]
    return [r["rps"] / around(hellos, r, "rps") for r in results]


def ratio(hellos: list[dict], results: list[dict], measure: str = "rps") -> float:
    """The median over the rounds of ratios()."""
    return statistics.median(ratios(hellos, results, measure))


def spread(values: list[float]) -> str:
    """A median with its lowest and highest, e.g. '0.80 (0.74–0.86)'."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def widest(values: list[float]) -> float:
    """Highest over lowest: 1.00 when a figure did not move at all."""
    return max(values) / min(values)


def steadiness(hellos: list[dict], legs: list) -> str:
    """How far each measure moved within one run: hello alone, and the targets' ratios."""
    line = (
        f"Steadiness: hello's highest over lowest of its {len(hellos)} samples, "
        f"req/s {widest([r['rps'] for r in hellos]):.2f}, "
        f"µs CPU/request {widest([r['cpu_us'] for r in hellos]):.2f}."
    )
    samples = [rs for leg in legs for rs in leg.samples.values() if len(rs) > 1]
    if not samples:
        return line
    moved = {
        m: statistics.median(widest(ratios(hellos, rs, m)) for rs in samples)
        for m in ("rps", "cpu")
    }
    return line + (
        " A target's × hello, highest over lowest round, median over the "
        f"{len(samples)} targets: req/s {moved['rps']:.2f}, CPU {moved['cpu']:.2f}."
    )
