"""make stress: concurrent clients through 2 gunicorn workers, then a crash test.

    python -m stress.run [--seconds 60] [--clients 16] [--crash-seconds 4]

Load: each client creates, regenerates and revokes its own PATs and writes and
reads documents, for --seconds. Afterwards, on fresh connections: no 5xx was
seen, every acknowledged (201) document is readable, every live PAT works and
every revoked or replaced secret is refused, asked several times so that both
workers answer.

Flood: during the load, and in alternate windows after it, paced raw-socket
requests of every malformed shape of issue 11 (stress/flood.py): each must be
answered 400, no worker may exit, no 5xx, no secret in the server's output,
and verify throughput with the flood must stay within noise of without it.

Crash: writers create documents and PATs, the whole gunicorn process group is
killed with SIGKILL mid-writes, `PRAGMA integrity_check` must say ok, and
after a restart every write acknowledged before the kill must be there.

Prints a summary; exits 1 on any violation.
"""

import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import seed as seeding
from bench.run import Server
from stress import flood as flooding

BIN = Path(sys.executable).parent
REPEAT = 4  # requests per revoked secret: each on a new connection, so both workers answer


class Client:
    """One request per connection (gunicorn's sync workers close after each answer)."""

    def __init__(self, port: int):
        self.port = port

    def request(self, method: str, path: str, secret: str | None = None, body=None):
        headers = {}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        parsed = None
        if raw and response.getheader("Content-Type", "").endswith("json"):
            parsed = json.loads(raw)
        return response.status, parsed


class Ledger:
    """What the server acknowledged, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.documents: list[str] = []
        self.live: dict[str, str] = {}  # PAT id -> current secret
        self.dead: list[str] = []  # revoked or replaced secrets
        self.violations: list[str] = []
        self.errors: Counter = Counter()

    def saw(self, action: str, status: int, expected: tuple[int, ...]) -> bool:
        with self.lock:
            self.statuses[f"{action} {status}"] += 1
            if status >= 500 or status not in expected:
                self.violations.append(f"{action}: unexpected {status}")
                return False
        return True


def load(port: int, fixtures: dict, seconds: float, clients: int, ledger: Ledger) -> None:
    deadline = time.monotonic() + seconds
    base = f"/api/v1/projects/{fixtures['project']}/dashboards"
    master = fixtures["pat"]

    def worker(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 (load mix, not secrets)
        client = Client(port)
        mine: dict[str, str] = {}
        docs: list[str] = []
        while time.monotonic() < deadline:
            action = rng.choices(
                ["create", "regenerate", "revoke", "write", "read", "verify"],
                weights=[3, 2, 1, 4, 4, 2],
            )[0]
            try:
                step(client, rng, action, mine, docs)
            except (OSError, http.client.HTTPException) as exc:
                with ledger.lock:
                    ledger.errors[type(exc).__name__] += 1
                    ledger.violations.append(f"{action}: {type(exc).__name__}: {exc}")
        with ledger.lock:
            ledger.live.update(mine)

    def step(client, rng, action, mine, docs) -> None:
        if action == "create" or (action in ("regenerate", "revoke") and not mine):
            status, body = client.request(
                "POST",
                "/api/v1/personal-access-tokens",
                master,
                {"note": "stress", "scopes": ["dashboard:view"], "expiration": 7},
            )
            if ledger.saw("create PAT", status, (201,)):
                mine[body["id"]] = body["token"]
        elif action == "regenerate":
            token_id = rng.choice(list(mine))
            status, body = client.request(
                "POST", f"/api/v1/personal-access-tokens/{token_id}/regenerate", master,
                {"expiration": 7},
            )  # fmt: skip
            if ledger.saw("regenerate PAT", status, (200,)):
                old = mine[token_id]
                mine[token_id] = body["token"]
                with ledger.lock:
                    ledger.dead.append(old)
        elif action == "revoke":
            token_id = rng.choice(list(mine))
            status, _ = client.request(
                "DELETE", f"/api/v1/personal-access-tokens/{token_id}", master
            )
            if ledger.saw("revoke PAT", status, (204,)):
                with ledger.lock:
                    ledger.dead.append(mine.pop(token_id))
        elif action == "write":
            status, body = client.request(
                "POST", base, master, {"name": f"stress {rng.random()}", "n": rng.randrange(10**6)}
            )
            if ledger.saw("write document", status, (201,)):
                docs.append(body["id"])
                with ledger.lock:
                    ledger.documents.append(body["id"])
        elif action == "read" and docs:
            status, _ = client.request("GET", f"{base}/{rng.choice(docs)}", master)
            ledger.saw("read document", status, (200,))
        elif action == "verify" and mine:
            secret = rng.choice(list(mine.values()))
            status, _ = client.request("GET", "/api/v1/auth/verify", secret)
            ledger.saw("verify live PAT", status, (200,))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)


def audit_after_load(port: int, fixtures: dict, ledger: Ledger) -> dict:
    """Re-read everything on fresh connections; returns counts checked."""
    client = Client(port)
    base = f"/api/v1/projects/{fixtures['project']}/dashboards"
    problems: list[str] = []

    def document(doc_id: str) -> None:
        status, body = client.request("GET", f"{base}/{doc_id}", fixtures["pat"])
        if status != 200 or body.get("id") != doc_id:
            problems.append(f"acknowledged document {doc_id} answers {status}")

    def dead(secret: str) -> None:
        for _ in range(REPEAT):
            status, _ = client.request("GET", "/api/v1/auth/verify", secret)
            if status != 401:
                problems.append(f"revoked secret {secret[:8]}… answers {status}")
                return

    def live(secret: str) -> None:
        status, _ = client.request("GET", "/api/v1/auth/verify", secret)
        if status != 200:
            problems.append(f"live PAT {secret[:8]}… answers {status}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(document, ledger.documents))
        list(pool.map(dead, ledger.dead))
        list(pool.map(live, ledger.live.values()))
    ledger.violations.extend(problems)
    return {
        "documents": len(ledger.documents),
        "revoked": len(ledger.dead),
        "revoked_requests": len(ledger.dead) * REPEAT,
        "live": len(ledger.live),
    }


class Writers:
    """Crash-test writers: documents and PATs, remembering every 201."""

    def __init__(self, client: Client, base: str, secret: str):
        self.client, self.base, self.secret = client, base, secret
        self.docs: list[str] = []
        self.pats: list[str] = []
        self.failed: Counter = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self, seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 (load mix, not secrets)
        while not self.stop.is_set():
            try:
                if rng.random() < 0.7:
                    status, body = self.client.request("POST", self.base, self.secret, {"w": seed})
                    if status == 201:
                        with self.lock:
                            self.docs.append(body["id"])
                else:
                    status, body = self.client.request(
                        "POST", "/api/v1/personal-access-tokens", self.secret,
                        {"note": "crash", "scopes": ["dashboard:view"], "expiration": 7},
                    )  # fmt: skip
                    if status == 201:
                        with self.lock:
                            self.pats.append(body["token"])
                if status >= 500:
                    with self.lock:
                        self.failed[status] += 1
            except (OSError, http.client.HTTPException, ValueError) as exc:
                with self.lock:
                    self.failed[type(exc).__name__] += 1
                time.sleep(0.01)


def crash_test(fixtures: dict, work: Path, seconds: float, rounds: int) -> tuple[list, list]:
    """kill -9 the server mid-writes `rounds` times; returns (summaries, violations)."""
    env = {
        "TOKENAPP_INSTANCE_PATH": fixtures["instance"],
        "TOKENAPP_DATABASE_URL": fixtures["database_url"],
    }
    argv = [str(BIN / "tokenapp"), "serve", "--workers", "2", "--bind", "{bind}"]
    base = f"/api/v1/projects/{fixtures['project']}/dashboards"
    summaries, violations = [], []
    for number in range(1, rounds + 1):
        server = Server(f"crash {number}", argv, env, work / f"crash-{number}.log")
        server.wait_ready("/healthz")
        writers = Writers(Client(server.port), base, fixtures["pat"])
        threads = [threading.Thread(target=writers.run, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        writers.stop.set()
        for thread in threads:
            thread.join(60)
        server.log.close()
        # A 201 leaves only after its commit, so every one received was acknowledged
        # before the kill: none can arrive after it.
        docs_before, pats_before, failed = writers.docs, writers.pats, writers.failed
        path = fixtures["database_url"].removeprefix("sqlite:///")
        conn = sqlite3.connect(path)
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()
        if integrity != "ok":
            violations.append(f"crash {number}: integrity_check says {integrity}")
        server = Server(f"restart {number}", argv, env, work / f"restart-{number}.log")
        try:
            server.wait_ready("/healthz")
            client = Client(server.port)
            missing_docs = [
                d
                for d in docs_before
                if client.request("GET", f"{base}/{d}", fixtures["pat"])[0] != 200
            ]
            missing_pats = [
                s for s in pats_before if client.request("GET", "/api/v1/auth/verify", s)[0] != 200
            ]
        finally:
            server.stop()
        for doc in missing_docs:
            violations.append(f"crash {number}: acknowledged document {doc} lost")
        for secret in missing_pats:
            violations.append(f"crash {number}: acknowledged PAT {secret[:8]}… lost")
        summaries.append(
            f"crash {number}: killed the gunicorn group after {seconds:g} s of 8 writers; "
            f"integrity_check={integrity}; acknowledged before the kill: "
            f"{len(docs_before)} documents, {len(pats_before)} PATs; "
            f"missing after restart: {len(missing_docs)} documents, {len(missing_pats)} PATs; "
            f"writer errors at the kill: {dict(failed)}"
        )
    return summaries, violations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--crash-seconds", type=float, default=4)
    parser.add_argument("--crash-rounds", type=int, default=2)
    parser.add_argument("--flood-rate", type=float, default=40, help="malformed requests/s")
    parser.add_argument("--ratio-windows", type=int, default=3, help="flood off/on window pairs")
    parser.add_argument("--ratio-seconds", type=float, default=2, help="seconds per window")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tokenapp-stress-") as tmp:
        work = Path(tmp)
        fixtures = seeding.seed(work / "instance", 1000)
        env = {
            "TOKENAPP_INSTANCE_PATH": fixtures["instance"],
            "TOKENAPP_DATABASE_URL": fixtures["database_url"],
        }
        argv = [str(BIN / "tokenapp"), "serve", "--workers", "2", "--bind", "{bind}"]
        server = Server("stress", argv, env, work / "stress.log")
        ledger = Ledger()
        try:
            server.wait_ready("/healthz")
            workers = server.workers()
            with flooding.Flood(server.port, fixtures["pat"], args.flood_rate) as flood:
                flood.resume()
                load(server.port, fixtures, args.seconds, args.clients, ledger)
                flood.pause()
                checked = audit_after_load(server.port, fixtures, ledger)
                ratio = flooding.compare(
                    flood, server.port, fixtures["pat"], args.ratio_windows, args.ratio_seconds,
                    args.clients,
                )  # fmt: skip
            alive = server.proc.poll() is None and server.workers() == workers
        finally:
            server.stop()
        if not alive:
            ledger.violations.append("a gunicorn worker died or was replaced during the load")
        output = (work / "stress.log").read_text(errors="replace")
        flood_lines, flood_violations = flooding.report(flood, ratio, output)
        ledger.violations.extend(flood_violations)
        crashes, crash_violations = crash_test(
            fixtures, work, args.crash_seconds, args.crash_rounds
        )
    total = sum(ledger.statuses.values())
    fives = sum(n for k, n in ledger.statuses.items() if int(k.rsplit(" ", 1)[1]) >= 500)
    print(f"== make stress on {os.cpu_count()} cores")
    print(
        f"load: {args.clients} clients, {args.seconds:g} s, 2 gunicorn workers: {total} requests "
        f"({total / args.seconds:.0f}/s), 5xx: {fives}, transport errors: {dict(ledger.errors)}"
    )
    for key, count in sorted(ledger.statuses.items()):
        print(f"  {key}: {count}")
    print(
        f"after the load: {checked['documents']} acknowledged documents re-read; "
        f"{checked['revoked']} revoked/replaced secrets refused "
        f"({checked['revoked_requests']} requests, {REPEAT} per secret on fresh connections); "
        f"{checked['live']} live PATs accepted"
    )
    for line in flood_lines:
        print(line)
    for line in crashes:
        print(line)
    violations = ledger.violations + crash_violations
    print(f"violations: {len(violations)}")
    for line in violations[:30]:
        print(f"  {line}")
    print(f"stress took {time.monotonic() - started:.0f} s")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
