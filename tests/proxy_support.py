"""A real Caddy (Debian's caddy) for the forward-auth tests, and the backend it guards.

Caddy runs in the foreground with the admin endpoint off, automatic HTTPS off and
its own HOME/XDG folders under a temporary prefix, and is always stopped.
"""

import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from https_support import _listening
from process_support import Started

CADDY = shutil.which("caddy") or shutil.which("caddy", path="/usr/bin")
NO_CADDY = "caddy is not installed (make test installs Debian's caddy)"
GLOBAL = "{\n\tadmin off\n\tauto_https off\n}\n\n"


class Recorder(http.server.BaseHTTPRequestHandler):
    """The protected service: records what reached it and answers with it."""

    def _answer(self):
        seen = {
            "method": self.command,
            "path": self.path,
            "user": self.headers.get("X-Auth-User"),
            "credential_type": self.headers.get("X-Auth-Credential-Type"),
        }
        self.server.seen.append(seen)
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args):
        pass


class Backend:
    def __enter__(self) -> "Backend":
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        self.server.seen = []
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def seen(self) -> list[dict]:
        return self.server.seen

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class Caddy(Started):
    """caddy serving `site` (a Caddyfile without the global block) until stop()."""

    def __init__(self, site: str, *, port: int, keep_logs: Path):
        self.site, self.port, self.keep_logs = site, port, keep_logs
        self.process = None
        self.prefix = None

    def start(self, timeout: float = 20) -> "Caddy":
        self.prefix = Path(tempfile.mkdtemp(prefix="tokenapp-caddy-"))
        config = self.prefix / "Caddyfile"
        config.write_text(GLOBAL + self.site)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.prefix),
            "XDG_CONFIG_HOME": str(self.prefix / "config"),
            "XDG_DATA_HOME": str(self.prefix / "data"),
        }
        self.log = open(self.prefix / "caddy.log", "wb")  # closed in stop
        self.process = subprocess.Popen(  # fixed arguments
            [CADDY, "run", "--config", str(config), "--adapter", "caddyfile"],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.prefix,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"caddy is not listening on {self.port}:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        try:
            return (self.prefix / "caddy.log").read_text(errors="replace")[-4000:]
        except (FileNotFoundError, TypeError):
            return ""

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
        finally:
            if self.prefix is not None:
                self.log.close()
                self.keep_logs.mkdir(parents=True, exist_ok=True)
                shutil.copy(self.prefix / "caddy.log", self.keep_logs / "caddy.log")
                shutil.rmtree(self.prefix, ignore_errors=True)
                self.prefix = None
