"""HTTPS for the deployment tests: a self-signed certificate, and a real nginx
(Debian's nginx-light) in front of tokenapp, configured by the files we ship.

The shipped files are rendered with this test's ports, certificate and paths.
Every substitution must apply: if deploy/nginx.conf changes so that one no
longer matches, the test fails here rather than quietly testing something else.
nginx runs in the foreground with its own prefix (pid, temporary files, logs),
never touching /etc/nginx, /var/log/nginx or /run, and is always stopped.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from process_support import Started

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")  # not on a user's PATH
NO_NGINX = "nginx is not installed (make test installs Debian's nginx-light)"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, valid one day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-days", "1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def render(path: Path, replacements: dict[str, str]) -> str:
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in {path.name}: update the test with it"
        text = text.replace(old, new)
    return text


def shipped_site(
    *, app_port: int, http_port: int, https_port: int, cert: Path, key: Path, logs: Path
) -> str:
    """deploy/nginx.conf as this machine can run it: loopback ports, IPv4 only."""
    return render(
        DEPLOY / "nginx.conf",
        {
            "listen [::]:80;\n": "",
            "listen [::]:443 ssl http2;\n": "",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "/etc/ssl/tokenapp/fullchain.pem": str(cert),
            "/etc/ssl/tokenapp/privkey.pem": str(key),
            "/var/log/nginx/tokenapp.access.log": str(logs / "tokenapp.access.log"),
            "http://127.0.0.1:8000": f"http://127.0.0.1:{app_port}",
        },
    )


MAIN = """worker_processes 1;
events {{ worker_connections 128; }}
http {{
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    access_log {prefix}/access.log;
    include {prefix}/site.conf;
}}
"""


class Nginx(Started):
    """nginx serving `site` (server blocks) until stop(); `wait_for` are its ports."""

    def __init__(self, site: str, *, wait_for: list[int], keep_logs: Path):
        self.site = site
        self.ports = wait_for
        self.keep_logs = keep_logs
        self.process = None
        self.prefix = None

    def start(self, timeout: float = 20) -> "Nginx":
        # Its own folder, traversable by the worker processes: run as root, nginx hands
        # its workers to `nobody`, who could not reach pytest's private tmp_path.
        self.prefix = Path(tempfile.mkdtemp(prefix="tokenapp-nginx-"))
        self.prefix.chmod(0o711)
        (self.prefix / "site.conf").write_text(self.site)
        (self.prefix / "nginx.conf").write_text(MAIN.format(prefix=self.prefix))
        self.process = subprocess.Popen(  # fixed arguments
            [
                NGINX, "-p", f"{self.prefix}/", "-c", str(self.prefix / "nginx.conf"),
                "-e", str(self.prefix / "error.log"),
                "-g", f"daemon off; pid {self.prefix}/nginx.pid;",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while not _listening(port):
                if self.process.poll() is not None:
                    raise AssertionError(f"nginx exited:\n{self.error_log()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"nginx is not listening on {port}:\n{self.error_log()}")
                time.sleep(0.05)
        return self

    def log(self, name: str) -> str:
        if self.prefix is None:
            return ""
        try:
            return (self.prefix / name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def error_log(self) -> str:
        return self.log("error.log")[-4000:]

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()  # fast shutdown of master and workers
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if self.process is not None:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)  # any worker left behind
                except ProcessLookupError:
                    pass
                self.process.wait()
            if self.prefix is not None:
                self.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in self.prefix.glob("*.log"):
                    shutil.copy(log, self.keep_logs / log.name)
                shutil.rmtree(self.prefix, ignore_errors=True)
                self.prefix = None


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
