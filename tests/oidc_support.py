"""A real OpenID Connect provider for the SSO tests, and a proxy that can tamper with it.

tests/oidc/provider.mjs runs panva's oidc-provider (certified by the OpenID
Foundation) under Node, installed by `make oidc-provider` in .venv/node-oidc. Its
issuer is the address of Proxy, which passes every request through unchanged
unless told to alter the ID token of the next token response (a forged token
travelling the real path, to show the app checks the signature).
"""

import base64
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

from deploy_support import free_port

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / ".venv" / "node-oidc" / "node_modules" / "oidc-provider"
SCRIPT = Path(__file__).resolve().parent / "oidc" / "provider.mjs"
CLIENT_ID = "tokenapp"
CLIENT_SECRET = "test-client-secret-not-for-production"
HOP = {"connection", "transfer-encoding", "keep-alive", "content-length", "host"}


def available() -> str | None:
    """Why the provider cannot run here, or None."""
    if not shutil.which("node"):
        return "node is not installed"
    if not (PACKAGE / "package.json").exists():
        return "oidc-provider is not installed: run `make oidc-provider`"
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def forge(id_token: str, how: str) -> str:
    header, payload, signature = id_token.split(".")
    claims = json.loads(_unb64(payload))
    if how == "payload":  # claim to be someone else, keep the provider's signature
        claims["sub"] = "d4e5f6-bob"
        return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    if how == "alg-none":  # the oldest trick: no signature at all
        head = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{head}.{_b64(json.dumps(claims).encode())}."
    raise ValueError(how)


class Proxy:
    """Forwards to the provider; `tamper` set alters the next /token response's ID token."""

    def __init__(self, upstream_port: int):
        self.upstream = upstream_port
        self.port = free_port()
        self.tamper: str | None = None
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
                headers["Host"] = f"127.0.0.1:{proxy.port}"
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=30)
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                if proxy.tamper and self.path.startswith("/token") and answer.status == 200:
                    document = json.loads(data)
                    document["id_token"] = forge(document["id_token"], proxy.tamper)
                    data = json.dumps(document).encode()
                    proxy.tamper = None
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Provider:
    """oidc-provider on a free port behind a Proxy whose address is the issuer."""

    def __init__(self, redirect_uri: str, log: Path):
        self.port = free_port()
        self.proxy = Proxy(self.port)
        self.issuer = self.proxy.url
        self._log = open(log, "wb")  # closed in stop
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), str(self.port), self.issuer, redirect_uri, CLIENT_SECRET],
            env={**os.environ, "OIDC_PROVIDER_DIR": str(PACKAGE)},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        self._wait(time.monotonic() + 60, log)

    def _wait(self, deadline: float, log: Path) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {log.read_text()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/.well-known/openid-configuration")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
            finally:
                conn.close()
        raise RuntimeError(f"oidc-provider did not start: {log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()
        self.proxy.stop()
