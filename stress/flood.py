"""A paced flood of malformed requests over raw sockets, and verify throughput with and without it.

Each shape is one gunicorn refuses after reading the request line (issue 11: each
used to end the worker that read it). Every request carries a live secret in the
query, the Basic user, the Referer and the User-Agent, so that the server's
output can be searched for it afterwards.
"""

import base64
import http.client
import re
import socket
import statistics
import threading
import time
from collections import Counter

from tokenapp import credentials

CHUNKED_END = b"0\r\n\r\n"
# name -> (extra header lines, body); each is refused by gunicorn's parser.
# tests/test_malformed.py sends the same shapes one by one.
SHAPES = {
    "Content-Length: abc": (["Content-Length: abc"], b""),
    "Content-Length: -1": (["Content-Length: -1"], b""),
    "two Content-Length": (["Content-Length: 1", "Content-Length: 2"], b"ab"),
    "Content-Length with chunked": (
        ["Content-Length: 5", "Transfer-Encoding: chunked"],
        CHUNKED_END,
    ),
    "two Host": (["Host: other.example"], b""),
    "chunked twice": (["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], CHUNKED_END),
    "chunked, chunked": (["Transfer-Encoding: chunked, chunked"], CHUNKED_END),
}
NO_ANSWER = "no answer"
# Flood on/off verify throughput below this ratio is no noise: the attack of issue 11
# took it from ~700 to 16 requests a second (0.02); a shared 2-core box swings ~±25 %.
MIN_RATIO = 0.5


def malformed(shape: str, secret: str) -> bytes:
    """One request of the shape, carrying the secret in every place a client can put it."""
    extra, body = SHAPES[shape]
    basic = base64.b64encode(f"{secret}:".encode()).decode()
    lines = [
        f"POST /api/v1/auth/verify?key={secret} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Basic {basic}",
        f"Referer: http://127.0.0.1/?key={secret}",
        f"User-Agent: flood/1.0 {secret}",
        *extra,
    ]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


def answer_to(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes on a new connection; the server's answer.

    Read until the server closes or one whole answer (headers and Content-Length
    bytes) has come: a well-formed request is kept alive by gunicorn's threaded
    workers, and waiting out their keep-alive cost 2 s an answer.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while not _whole(answer) and (chunk := sock.recv(65536)):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def _whole(answer: bytes) -> bool:
    head, end, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*\r?$", head)
    return bool(end) and length is not None and len(body) >= int(length.group(1))


def status_of(answer: bytes) -> int | None:
    parts = answer.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def exchange(port: int, data: bytes, timeout: float = 10) -> int | str:
    """The status of the answer to raw bytes on a new connection, or NO_ANSWER."""
    try:
        status = status_of(answer_to(port, data, timeout))
    except OSError:
        status = None
    return NO_ANSWER if status is None else status


class Flood:
    """`threads` senders, `rate` requests a second in all, only while `on` is set."""

    def __init__(self, port: int, secret: str, rate: float, threads: int = 2):
        self.port, self.secret, self.rate = port, secret, rate
        self.interval = threads / rate
        self.on = threading.Event()
        self.since: float | None = None
        self.seconds = 0.0  # time spent flooding
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.sent: Counter = Counter()  # shape -> requests
        self.answers: Counter = Counter()  # (shape, status) -> requests
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> "Flood":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.on.set()
        for thread in self.threads:
            thread.join(30)

    def resume(self) -> None:
        self.since = time.monotonic()
        self.on.set()

    def pause(self) -> None:
        self.on.clear()
        if self.since is not None:
            self.seconds += time.monotonic() - self.since
            self.since = None

    def _run(self, offset: int) -> None:
        shapes = list(SHAPES)
        number = offset
        due = time.monotonic()
        while not self.done.is_set():
            if not self.on.is_set():
                self.on.wait()
                due = time.monotonic()
                continue
            shape = shapes[number % len(shapes)]
            number += 1
            status = exchange(self.port, malformed(shape, self.secret))
            with self.lock:
                self.sent[shape] += 1
                self.answers[(shape, status)] += 1
            due = max(due + self.interval, time.monotonic() - self.interval)
            time.sleep(max(0.0, due - time.monotonic()))

    def statuses(self) -> Counter:
        counts: Counter = Counter()
        for (_, status), n in self.answers.items():
            counts[status] += n
        return counts

    def violations(self) -> list[str]:
        found = []
        for (shape, status), n in sorted(self.answers.items(), key=str):
            if status != 400:
                found.append(f"malformed '{shape}': {n} answered {status}, not 400")
        return found


def verify_rate(port: int, secret: str, seconds: float, clients: int) -> tuple[float, Counter]:
    """Requests a second to GET /api/v1/auth/verify from `clients` threads; and their statuses."""
    deadline = time.monotonic() + seconds
    statuses: Counter = Counter()
    lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request(
                    "GET", "/api/v1/auth/verify", headers={"Authorization": f"Bearer {secret}"}
                )
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
            finally:
                conn.close()
            with lock:
                statuses[status] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return statuses[200] / (time.monotonic() - started), statuses


def compare(flood: Flood, port: int, secret: str, windows: int, seconds: float, clients: int):
    """Alternate windows without and with the flood (so drift hits both alike).

    Returns (rate without, rate with, with/without, statuses of every verify).
    """
    off, on, statuses = [], [], Counter()
    for _ in range(windows):
        for flooding, rates in ((False, off), (True, on)):
            if flooding:
                flood.resume()
            else:
                flood.pause()
            rate, seen = verify_rate(port, secret, seconds, clients)
            rates.append(rate)
            statuses.update(seen)
    flood.pause()
    without, with_ = statistics.mean(off), statistics.mean(on)
    return without, with_, (with_ / without if without else 0.0), statuses


def report(flood: Flood, ratio: tuple, output: str) -> tuple[list[str], list[str]]:
    """(lines to print, violations) from the flood and the server's own output."""
    without, with_, share, verified = ratio
    boots, exits = output.count("Booting worker with pid"), output.count("exited with code")
    statuses = flood.statuses()
    sent = sum(flood.sent.values())
    unanswered = statuses[NO_ANSWER]
    fives = sum(n for status, n in statuses.items() if isinstance(status, int) and status >= 500)
    violations = flood.violations()
    if exits or boots != 2:
        violations.append(f"workers: {boots} booted for 2, {exits} exited")
    if set(verified) != {200}:
        violations.append(f"verify during the flood comparison: {dict(verified)}")
    if share < MIN_RATIO:
        violations.append(f"verify throughput with the flood is {share:.2f} of without")
    leaked = credentials.find(output)
    if leaked:
        violations.append(f"{len(leaked)} secrets in the server output")
    answers = ", ".join(f"{k}: {n}" for k, n in sorted(statuses.items(), key=str))
    lines = [
        f"flood: {len(SHAPES)} malformed shapes over raw sockets from {len(flood.threads)} "
        f"senders (at most {flood.rate:g}/s), {flood.seconds:.0f} s during the load and the "
        f"flood windows: {sent} sent ({sent / max(flood.seconds, 1e-9):.0f}/s), "
        f"{sent - unanswered} answered "
        f"({answers}), unanswered: {unanswered}, 5xx: {fives}",
        "  per shape: " + ", ".join(f"{shape}: {n}" for shape, n in flood.sent.items()),
        f"workers: {boots} booted for 2, {exits} exited; "
        f"secrets in the server output: {len(leaked)}",
        "verify throughput, windows alternately without and with the flood: "
        f"{without:.0f}/s without, {with_:.0f}/s with, ratio {share:.2f} "
        f"(fails below {MIN_RATIO})",
    ]
    return lines, violations
