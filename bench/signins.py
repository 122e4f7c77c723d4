"""API p99 while people sign in: does a bcrypt check (cost 12) stall the API?

    python -m bench.signins [--duration 8] [--threads 1,4]

For each worker model (`tokenapp serve --workers 2 --threads T`: T = 1 is
gunicorn's sync worker, T > 1 its gthread worker) wrk runs verify at 8
connections, once alone and once while 4 clients sign in in a loop. Prints
p50/p99 of verify for each; make bench includes the same figures.
"""

import argparse
import re
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from bench import seed as seeding
from bench.run import BIN
from bench.run import Server
from bench.run import wrk

SIGNERS = 4
PASSWORD = "sign-in-password-1234"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def add_signer(fixtures: dict) -> None:
    """A user whose password hash has cost 12, as a real one would."""
    from tokenapp import accounts
    from tokenapp import create_app
    from tokenapp import db

    app = create_app({"DATABASE_URL": fixtures["database_url"], "BCRYPT_ROUNDS": 12})
    with app.app_context(), db.database.connection_context():
        accounts.create_user("signer", PASSWORD)
    db.database.close_all()


def sign_in(base: str) -> int:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(base + "/login", timeout=30) as page:
        token = CSRF.search(page.read().decode()).group(1)
    form = urllib.parse.urlencode(
        {"csrf_token": token, "username": "signer", "password": PASSWORD}
    ).encode()
    with opener.open(base + "/login", form, timeout=30) as answer:
        return answer.status


def measure(base: str, secret: str, duration: float, signing: bool) -> dict:
    stop = threading.Event()
    counts = [0] * SIGNERS

    def loop(i: int) -> None:
        while not stop.is_set():
            sign_in(base)
            counts[i] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(SIGNERS if signing else 0)]
    for thread in threads:
        thread.start()
    try:
        result = wrk(base + "/api/v1/auth/verify", duration, secret)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    result["signins"] = sum(counts)
    return result


def run(
    fixtures: dict, work: Path, threads: list[int], duration: float, env: dict | None = None
) -> list[dict]:
    """verify alone and during 4 looping sign-ins, for each worker model: one dict per sample."""
    add_signer(fixtures)
    env = {
        "TOKENAPP_INSTANCE_PATH": fixtures["instance"],
        "TOKENAPP_DATABASE_URL": fixtures["database_url"],
        **(env or {}),
    }
    rows = []
    for count in threads:
        argv = [str(BIN / "tokenapp"), "serve", "--workers", "2", "--threads", str(count)]
        server = Server(
            f"threads={count}", [*argv, "--bind", "{bind}"], env, work / f"t{count}.log"
        )
        try:
            server.wait_ready("/healthz")
            sign_in(server.base)
            wrk(server.base + "/api/v1/auth/verify", 1, fixtures["pat"])
            model = "2 sync workers" if count == 1 else f"2 gthread workers × {count} threads"
            for signing in (False, True):
                r = measure(server.base, fixtures["pat"], duration, signing)
                rows.append({"threads": count, "model": model, "signing": signing, **r})
                print(table(rows[-1:])[-1], flush=True)
        finally:
            server.stop()
    return rows


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| worker model | sign-ins | verify req/s | p50 ms | p99 ms | sign-ins done |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {'4 looping' if r['signing'] else 'none'} | {r['rps']:.0f} | "
            f"{r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | {r['signins']} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--threads", default="1,4")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tokenapp-signins-"))
    fixtures = seeding.seed(work / "db", 1000)
    threads = [int(t) for t in args.threads.split(",")]
    print("\n".join(table(run(fixtures, work, threads, args.duration))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
