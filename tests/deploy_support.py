"""Real servers for the deployment tests: start `tokenapp serve`, wait, stop.

Each server is a subprocess bound to 127.0.0.1 on a free port, its stderr
kept in a file (a pipe nobody reads would fill and block gunicorn), and it is
always stopped in a finally by the caller through `Server.stop()` or the
context manager.
"""

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from process_support import Started

TOKENAPP = os.path.join(os.path.dirname(sys.executable), "tokenapp")
SETUP_CODE = re.compile(r"one-time setup code: (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict:
    """os.environ without TOKENAPP_* settings of the caller, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAPP_")}
    env.update(extra)
    return env


class Server(Started):
    """`tokenapp serve` (or any argv ending in serve options) on 127.0.0.1:port."""

    def __init__(self, argv, *, env, cwd, log: Path, port=None, tls_context=None):
        self.port = port or free_port()
        self.log = log
        self.tls_context = tls_context
        self.argv = [*argv, "--bind", f"127.0.0.1:{self.port}"]
        self.env = env
        self.cwd = cwd
        self.process = None
        self.started_in = None

    def start(self, timeout: float = 60) -> "Server":
        begin = time.monotonic()
        self._log_file = open(self.log, "wb")  # closed in stop
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )
        self._wait(begin + timeout)
        self.started_in = time.monotonic() - begin
        return self

    def _wait(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.stderr()}")
            try:
                if self.request("GET", "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not answer /healthz in time:\n{self.stderr()}")

    def connection(self, timeout: float = 15):
        if self.tls_context is not None:
            return http.client.HTTPSConnection(
                "localhost", self.port, timeout=timeout, context=self.tls_context
            )
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, *, body=None, headers=None, timeout: float = 15):
        """(status, headers, body bytes) of one request on a fresh connection."""
        conn = self.connection(timeout)
        try:
            conn.request(
                method, path, body=body, headers={"Connection": "close", **(headers or {})}
            )
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def stderr(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def setup_code(self) -> str | None:
        found = SETUP_CODE.findall(self.stderr())
        return found[-1] if found else None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
