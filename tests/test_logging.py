"""Secrets never reach a log line or the database file in clear (DESIGN §3).

Runs the real thing: `tokenapp serve` (gunicorn, one worker) on a database
prepared with the CLI, requests with every carrier and every kind of secret,
including ?key= and requests that fail, then reads everything the server wrote.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import BACKEND
from conftest import PASSWORD

from tokenapp import create_app
from tokenapp import credentials
from tokenapp import db

pytestmark = pytest.mark.server

SCRIPT = Path(sys.executable).with_name("tokenapp")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def deployment(tmp_path, database_url, monkeypatch):
    """An instance folder and database with one user, a project and a secret of each kind."""
    instance = tmp_path / "instance"
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(instance))
    app = create_app({"DATABASE_URL": database_url, "BCRYPT_ROUNDS": 4})
    runner = app.test_cli_runner()

    def cli(*args, input=None) -> str:
        result = runner.invoke(args=list(args), input=input)
        assert result.exit_code == 0, result.output
        return result.stdout.strip()

    cli("init")
    cli("create-user", "alice", "--password-stdin", input=PASSWORD)
    cli("project", "create", "billing", "--owner", "alice")
    issued = {
        "export": cli("key", "create", "billing", "--user", "alice", "--kind", "export"),
        "full": cli("key", "create", "billing", "--user", "alice", "--kind", "full"),
        "pat": cli(
            "token",
            "create",
            "--user",
            "alice",
            "--note",
            "ci",
            "--scope",
            "dashboard",
            "--expiration",
            "never",
        ),  # fmt: skip
    }
    db.database.close_all()
    env = dict(os.environ, TOKENAPP_INSTANCE_PATH=str(instance))
    env["TOKENAPP_DATABASE_URL"] = database_url
    return env, issued, instance


@pytest.fixture
def server(deployment, tmp_path):
    env, issued, instance = deployment
    port = free_port()
    out, err = open(tmp_path / "out.log", "wb"), open(tmp_path / "err.log", "wb")
    process = subprocess.Popen(
        [SCRIPT, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None, (tmp_path / "err.log").read_text()
        assert time.monotonic() < deadline, "gunicorn did not start within 30 s"
        time.sleep(0.2)

    def stop() -> str:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        out.close()
        err.close()
        return (tmp_path / "out.log").read_text() + (tmp_path / "err.log").read_text()

    yield base, issued, instance, stop
    if process.poll() is None:
        process.kill()
        process.wait(timeout=5)


def exercise(base: str, issued: dict[str, str]) -> None:
    """Every carrier with every kind, plus requests that fail in different ways."""
    api = f"{base}/api/v1"
    documents = f"{api}/projects/billing/dashboards"
    for secret in issued.values():
        for carrier in ("Bearer", "Loco"):
            response = requests.get(
                f"{api}/auth/verify", headers={"Authorization": f"{carrier} {secret}"}, timeout=5
            )
            assert response.status_code == 200
        assert requests.get(f"{api}/auth/verify?key={secret}", timeout=5).status_code == 200
        assert requests.get(documents, params={"key": secret, "limit": 101}, timeout=5).status_code
        requests.post(  # malformed JSON: 400 (or 403 for the export key)
            documents,
            params={"key": secret},
            data=b"{not json",
            headers={"Content-Type": "application/json"},
            timeout=5,
        )
        requests.get(f"{api}/projects/nowhere?key={secret}", timeout=5)  # 404
        requests.get(f"{base}/login?key={secret}", timeout=5)  # a page, not the API
        flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
        assert requests.get(f"{api}/auth/verify?key={flipped}", timeout=5).status_code == 401
    pat, full = issued["pat"], issued["full"]
    two = requests.get(
        f"{api}/auth/verify?key={full}", headers={"Authorization": f"Bearer {pat}"}, timeout=5
    )
    assert two.status_code == 400
    export_write = requests.delete(f"{documents}/x?key={issued['export']}", timeout=5)
    assert export_write.status_code in (403, 404)


def test_no_issued_secret_appears_in_the_server_output(server):
    base, issued, _, stop = server
    exercise(base, issued)
    output = stop()
    assert "/api/v1/auth/verify" in output, "the access log must be there to be checked"
    assert "[REDACTED]" in output
    for kind, secret in issued.items():
        assert secret not in output, f"the {kind} secret is in the server output"
        assert secret[8:] not in output
    assert credentials.find(output) == []


@pytest.mark.skipif(BACKEND != "sqlite", reason="reads the SQLite file itself")
def test_sqlite_file_holds_no_full_key_or_token_secret(server):
    base, issued, instance, stop = server
    exercise(base, issued)
    stop()
    files = sorted(instance.parent.glob("tokenapp.db*")) + sorted(instance.glob("tokenapp.db*"))
    stored = b"".join(path.read_bytes() for path in files)
    assert issued["export"].encode() in stored, "export keys are kept in clear (Loco)"
    assert issued["full"].encode() not in stored
    assert issued["pat"].encode() not in stored
    assert credentials.digest(issued["full"]).encode() in stored
