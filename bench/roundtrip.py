"""One PostgreSQL round trip, µs median: loopback TCP vs the unix socket, psycopg2 vs bare;
and the CPU one round trip to a shared server costs (client and server process).

    python -m bench.roundtrip [URL] [--repeat 8000] [--redis redis://127.0.0.1:6379]

URL defaults to TOKENAPP_BENCH_DATABASE_URL's server (database `postgres` when
none is named). `SELECT 1` is sent over TCP and, when the server is on this
machine, over its unix socket (bench.inproc.local_socket), each by psycopg2
(execute + fetchall) and by a bare protocol client (one Query message, read
to ReadyForQuery; trust or peer authentication only): the difference is
psycopg2's own share of a round trip. README, "Several nodes on PostgreSQL".

`cpu_per_round_trip` reads, from /proc, the CPU time that N round trips cost
this process and the server process that answered them: PostgreSQL's backend
(`SELECT 1`, psycopg2) and Redis (`GET`, a bare socket, no client library).
That is the least any per-request freshness check against a shared server
costs (issue 16's change counter): make bench prints it beside hello's CPU
per request.
"""

import argparse
import os
import socket
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from bench.cpu import parse_stat
from bench.inproc import local_socket
from bench.inproc import median_us
from bench.run import PG_DEFAULT
from bench.run import PG_SETTING


class Bare:
    """The protocol's simple Query, no driver: the floor of a round trip."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        folder = parse_qs(parts.query).get("host", [None])[-1]
        port = parts.port or 5432
        if folder:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(f"{folder}/.s.PGSQL.{port}")
        else:
            self.sock = socket.create_connection((parts.hostname or "127.0.0.1", port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        user, database = parts.username or "postgres", parts.path.strip("/") or "postgres"
        body = struct.pack("!i", 196608) + f"user\0{user}\0database\0{database}\0\0".encode()
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)
        self.buffer = b""
        self._until_ready()

    def query(self, sql: str) -> None:
        text = sql.encode() + b"\0"
        self.sock.sendall(b"Q" + struct.pack("!i", len(text) + 4) + text)
        self._until_ready()

    def _until_ready(self) -> None:
        while True:
            while len(self.buffer) >= 5:
                kind, (length,) = self.buffer[:1], struct.unpack("!i", self.buffer[1:5])
                if len(self.buffer) < 1 + length:
                    break
                body, self.buffer = self.buffer[5 : 1 + length], self.buffer[1 + length :]
                if kind == b"Z":
                    return
                if kind == b"E" or kind == b"R" and body[:4] != b"\0\0\0\0":  # not AuthOk
                    raise RuntimeError("the bare client needs trust or peer authentication")
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("the server closed the connection")
            self.buffer += data


def measure(url: str, repeat: int) -> tuple[float, float]:
    """(bare µs, psycopg2 µs) for SELECT 1 on `url`."""
    import psycopg2

    bare = Bare(url)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cursor = conn.cursor()

    def driven() -> None:
        cursor.execute("SELECT 1")
        cursor.fetchall()

    try:
        return median_us(lambda: bare.query("SELECT 1"), repeat, 500), median_us(
            driven, repeat, 500
        )
    finally:
        conn.close()
        bare.sock.close()


def _cpu(pid: int) -> float:
    return parse_stat(Path(f"/proc/{pid}/stat").read_text())


def _cpu_us(server_pid: int, call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(client µs, server µs) of CPU per call, over `repeat` calls after 500 to warm up."""
    for _ in range(500):
        call()
    client, server = _cpu(os.getpid()), _cpu(server_pid)
    for _ in range(repeat):
        call()
    return (
        (_cpu(os.getpid()) - client) / repeat * 1e6,
        (_cpu(server_pid) - server) / repeat * 1e6,
    )


def cpu_per_round_trip(url: str, redis_url: str | None, repeat: int = 20000) -> list[tuple]:
    """[(label, client µs, server µs)] of CPU per round trip; a server that is not on this
    machine (its process cannot be read) or not reachable is left out."""
    import psycopg2

    rows = []
    conn = psycopg2.connect(local_socket(url) or url)
    conn.autocommit = True
    cursor = conn.cursor()
    cursor.execute("SELECT pg_backend_pid()")
    backend = cursor.fetchone()[0]
    if Path(f"/proc/{backend}/stat").exists():

        def select_one() -> None:
            cursor.execute("SELECT 1")
            cursor.fetchall()

        rows.append(("PostgreSQL `SELECT 1` (psycopg2)", *_cpu_us(backend, select_one, repeat)))
    conn.close()
    if redis_url:
        parts = urlsplit(redis_url)
        try:
            sock = socket.create_connection((parts.hostname, parts.port or 6379), timeout=2)
        except OSError:
            return rows
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        info = sock.recv(65536).decode(errors="replace")
        pid = int(info.split("process_id:")[1].split()[0]) if "process_id:" in info else 0
        command = b"*2\r\n$3\r\nGET\r\n$20\r\ntokenapp:bench:probe\r\n"
        if pid and Path(f"/proc/{pid}/stat").exists():

            def get() -> None:
                sock.sendall(command)
                sock.recv(64)

            rows.append(("Redis `GET` (bare socket)", *_cpu_us(pid, get, repeat)))
        sock.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?", default=os.environ.get(PG_SETTING, PG_DEFAULT))
    parser.add_argument("--repeat", type=int, default=8000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    url = (
        args.url if urlsplit(args.url).path not in ("", "/") else args.url.rstrip("/") + "/postgres"
    )
    ways = [("loopback TCP", url)]
    if (socket_url := local_socket(url)) is not None:
        ways.append(("unix socket", socket_url))
    print("| SELECT 1, µs median | bare protocol | psycopg2 | psycopg2's share |")
    print("|---|---:|---:|---:|")
    for label, way in ways:
        bare, driven = measure(way, args.repeat)
        print(f"| {label} | {bare:.1f} | {driven:.1f} | {driven - bare:.1f} |")
    print()
    print("| one round trip, CPU µs | this process | the server's | both |")
    print("|---|---:|---:|---:|")
    for label, client, server in cpu_per_round_trip(url, args.redis):
        print(f"| {label} | {client:.1f} | {server:.1f} | {client + server:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
