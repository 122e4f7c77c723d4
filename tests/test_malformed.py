"""A malformed request gets a 400 and costs no worker; nothing a client sends reaches a log.

Runs `tokenapp serve` with 2 gunicorn workers and talks raw HTTP over sockets,
because the shapes below are exactly what an HTTP library refuses to send.
"""

import base64
import logging
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from gunicorn.config import Config
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from test_logging import SCRIPT
from test_logging import deployment  # noqa: F401 (fixture)
from test_logging import free_port

from stress.flood import SHAPES
from stress.flood import answer_to as exchange
from stress.flood import malformed
from stress.flood import status_of
from tokenapp import credentials
from tokenapp import serving


def worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return {int(pid) for pid in children.read_text().split()}


@pytest.fixture
def two_workers(deployment, tmp_path):  # noqa: F811 (the fixture imported above)
    """`tokenapp serve --workers 2`; yields (port, issued, master pid, stop -> all output)."""
    env, issued, _ = deployment
    port = free_port()
    log_path = tmp_path / "server.log"
    log = open(log_path, "wb")  # closed in stop
    process = subprocess.Popen(
        [SCRIPT, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, "gunicorn did not start within 30 s"
        try:
            up = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            up = False
        if up and len(worker_pids(process.pid)) == 2:
            break
        time.sleep(0.2)

    def stop() -> str:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()
        return log_path.read_text(errors="replace")

    yield port, issued, process.pid, stop
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
        log.close()


def assert_no_secret(output: str, issued: dict[str, str]) -> None:
    for kind, secret in issued.items():
        assert secret not in output, f"the {kind} secret is in the server output"
        assert secret[8:] not in output, f"part of the {kind} secret is in the server output"
    assert credentials.find(output) == []


@pytest.mark.server
def test_each_malformed_request_is_answered_400_and_no_worker_exits(two_workers):
    port, issued, master, stop = two_workers
    workers = worker_pids(master)
    answers = {}
    # Several rounds, so that each worker sees every shape.
    for round_ in range(4):
        for shape in SHAPES:
            answer = exchange(port, malformed(shape, issued["pat"]))
            answers[f"{shape} #{round_}"] = status_of(answer)
    healthy = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
    still = worker_pids(master)
    output = stop()
    assert answers == {name: 400 for name in answers}, output[-3000:]
    assert healthy == 200
    assert still == workers, "a worker was replaced"
    assert "exited with code" not in output
    assert output.count("Booting worker with pid") == 2
    assert "Traceback" not in output
    assert_no_secret(output, issued)


@pytest.mark.server
def test_no_secret_in_any_log_whatever_the_client_sends(two_workers):
    port, issued, master, stop = two_workers
    workers = worker_pids(master)
    pat, full, export = issued["pat"], issued["full"], issued["export"]
    basic = base64.b64encode(f"{pat}:".encode()).decode()
    head = "GET /api/v1/auth/verify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    sent = {
        # curl -u "$PAT:": the Basic user is the PAT.
        "basic user": f"{head}Authorization: Basic {basic}\r\n\r\n",
        # gunicorn refuses the request line and logs why.
        "control character after ?key=": (
            f"GET /api/v1/auth/verify?key={full}\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        ),
        "secret in Referer": f"{head}Referer: https://example.com/{export}?key={pat}\r\n\r\n",
        "secret in User-Agent": f"{head}User-Agent: leaky/1.0 ({full})\r\n\r\n",
        "secret in a bad header value": f"{head}X-Token: {pat}\x01\r\n\r\n",
        "secret as a bad header name": f"{head}{export}\x01: 1\r\n\r\n",
        "secret in a header with no colon": f"{head}{full}\r\n\r\n",
        "percent-encoded secret in the path": (
            f"GET /api/v1/%74{pat[1:]} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        ),
    }
    statuses = {name: status_of(exchange(port, raw.encode())) for name, raw in sent.items()}
    still = worker_pids(master)
    output = stop()
    assert all(status is not None and status < 500 for status in statuses.values()), statuses
    assert still == workers
    assert "GET /api/v1/auth/verify" in output, "the access log must be there to be checked"
    assert "Invalid request from ip=" in output, "the error log must be there to be checked"
    assert_no_secret(output, issued)


SECRET = credentials.mint("pat")
odd = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=20),
    st.text(max_size=40),
    st.just(f"tkp_{SECRET[4:]}"),
    st.just(f"/x?key={SECRET}&a=%ZZ"),
    st.lists(st.text(max_size=5), max_size=3),
)
environ_keys = st.sampled_from(
    [
        "REQUEST_METHOD", "RAW_URI", "SERVER_PROTOCOL", "PATH_INFO", "QUERY_STRING",
        "REMOTE_ADDR", "HTTP_REFERER", "HTTP_USER_AGENT", "HTTP_AUTHORIZATION", "HTTP_COOKIE",
    ]
)  # fmt: skip


class Kept(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record):
        self.lines.append(self.format(record))


def gunicorn_logger() -> serving.Logger:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", "%(u)s %(r)s %(U)s %(q)s %(f)s %(a)s %({x-token}i)s %({cookie}i)s")
    return serving.Logger(cfg)


LOGGER = gunicorn_logger()


@pytest.mark.backend_independent
def test_a_request_refused_before_its_path_is_read_is_logged():
    """What gunicorn's error handler logs for a refused request: no PATH_INFO, no headers."""
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/api/v1/auth/verify?key={SECRET}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": f"key={SECRET}",
    }
    response = SimpleNamespace(status="400 Bad Request", headers=[])
    atoms = LOGGER.atoms(response, SimpleNamespace(headers=[]), environ, timedelta(0))
    assert atoms["U"] == "-"
    assert atoms["r"] == "POST /api/v1/auth/verify?key=[REDACTED] HTTP/1.1"
    assert atoms["q"] == "key=[REDACTED]"


@pytest.mark.backend_independent
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    environ=st.dictionaries(environ_keys, odd, max_size=10),
    headers=st.lists(st.tuples(st.sampled_from(["X-Token", "Cookie", "Referer"]), odd)),
    status=odd,
)
def test_access_log_atoms_never_raise_and_hold_no_secret(environ, headers, status):
    logger = LOGGER
    request = SimpleNamespace(headers=headers)
    response = SimpleNamespace(status=status, headers=[("Set-Cookie", f"s={SECRET}")], sent=None)
    atoms = logger.atoms(response, request, environ, timedelta(seconds=1))
    assert SECRET not in repr(atoms)
    assert SECRET[4:] not in repr(atoms)
    kept = Kept()
    logger.access_log.addHandler(kept)
    try:
        logger.access(response, request, environ, timedelta(seconds=1))  # must not raise
    finally:
        logger.access_log.removeHandler(kept)
    assert len(kept.lines) == 1
    assert SECRET not in kept.lines[0]
    assert SECRET[4:] not in kept.lines[0]


@pytest.mark.backend_independent
def test_every_log_record_of_the_server_is_redacted():
    """gunicorn's error log and the application's loggers, with args and tracebacks."""
    logger = gunicorn_logger()
    kept = Kept()
    app_log = logging.getLogger("tokenapp")
    for log in (logger.error_log, app_log):
        log.addHandler(kept)
    restore = serving.redact_every_record()
    try:
        logger.warning("Invalid request from ip=1: %s", f"GET /?key={SECRET}\x01 HTTP/1.1")
        app_log.warning("saw %s", f"Bearer {SECRET}")
        try:
            raise ValueError(f"bad header {SECRET}")
        except ValueError:
            logging.getLogger("tokenapp.errors").exception("failed")
    finally:
        logging.setLogRecordFactory(restore)
        for log in (logger.error_log, app_log):
            log.removeHandler(kept)
    text = "\n".join(kept.lines)
    assert "saw Bearer [REDACTED]" in text
    assert "ValueError: bad header [REDACTED]" in text
    assert SECRET not in text
    assert SECRET[4:] not in text
