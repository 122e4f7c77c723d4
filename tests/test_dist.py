"""`make dist`: one .pyz file that serves the whole app with nothing installed but Python.

The file is built once per test session (about 20-40 s: pip resolves and
installs the package and its dependencies into the zipapp), unless
dist/tokenapp.pyz is newer than every source file. It then runs from an empty
directory under the base interpreter with -I: no venv, no PYTHONPATH, no
user site, the current directory not on sys.path.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import BACKEND
from deploy_support import Server
from deploy_support import clean_env

ROOT = Path(__file__).resolve().parent.parent
SHIV = Path(sys.executable).parent / "shiv"
PYZ = ROOT / "dist" / "tokenapp.pyz"
# The same command as `make dist` (Makefile).
BUILD = [str(SHIV), "--compressed", "-e", "tokenapp.cli:main", "-o", "{out}", ".[postgres]"]
SOURCES = ("tokenapp", "templates", "static", "setup.cfg", "pyproject.toml")

pytestmark = [
    pytest.mark.dist,
    pytest.mark.server,
    pytest.mark.skipif(
        not SHIV.exists(), reason="shiv is not installed (pip install -e '.[test]')"
    ),
]


def _newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else path.rglob("*")
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                newest = max(newest, file.stat().st_mtime)
    return newest


def _base_python() -> str:
    base = getattr(sys, "_base_executable", None) or shutil.which("python3")
    assert base and not Path(base).resolve().is_relative_to(ROOT / ".venv"), base
    return base


@pytest.fixture(scope="session")
def pyz(request) -> Path:
    """dist/tokenapp.pyz, rebuilt when any source is newer."""
    if PYZ.exists() and PYZ.stat().st_mtime > _newest_source():
        return PYZ
    PYZ.parent.mkdir(exist_ok=True)
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # stale build/lib files would ship
    partial = PYZ.with_suffix(f".{os.getpid()}.tmp")
    begin = time.monotonic()
    result = subprocess.run(
        [part.format(out=partial) for part in BUILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    os.replace(partial, PYZ)
    _report(request, f"built {PYZ.relative_to(ROOT)} in {time.monotonic() - begin:.1f} s")
    return PYZ


def _report(request, line: str) -> None:
    """Shown even under -q and output capture: the size and start time are results."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\n[dist] {line}")


def test_pyz_holds_every_package_and_asset(pyz):
    names = set()
    with zipfile.ZipFile(pyz) as archive:
        for name in archive.namelist():
            _, found, rest = name.partition("site-packages/")
            if found and rest.startswith("tokenapp/"):
                names.add(rest)
    expected = {"tokenapp/scopes.toml"}
    for init in (ROOT / "tokenapp").rglob("__init__.py"):
        expected.add(init.relative_to(ROOT).as_posix())
    for migration in (ROOT / "tokenapp" / "migrations").glob("0*.py"):
        expected.add(migration.relative_to(ROOT).as_posix())
    for folder in ("templates", "static"):
        for file in (ROOT / folder).rglob("*"):
            if file.is_file():
                expected.add(f"tokenapp/{file.relative_to(ROOT).as_posix()}")
    missing = sorted(expected - names)
    assert not missing, f"not in {pyz.name} (setup.cfg packages/package_data): {missing}"


def test_pyz_serves_from_an_empty_directory(pyz, tmp_path, request):
    home = tmp_path / "empty"
    home.mkdir()
    env = clean_env(SHIV_ROOT=str(tmp_path / "shiv"), HOME=str(tmp_path))
    if BACKEND == "postgresql":
        # The PostgreSQL pass: the same file with the psycopg2 it carries.
        env["TOKENAPP_DATABASE_URL"] = request.getfixturevalue("database_url")
    server = Server(
        [_base_python(), "-I", str(pyz), "serve", "--workers", "1"],
        env=env,
        cwd=home,
        log=tmp_path / "serve.log",
    )
    try:
        server.start()
        cold = server.started_in  # includes unpacking into SHIV_ROOT

        status, headers, body = server.request("GET", "/setup")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        page = body.decode()
        assert 'href="/static/app.css' in page
        status, headers, body = server.request("GET", "/static/app.css")
        assert status == 200 and headers["Content-Type"].startswith("text/css") and body

        status, headers, body = server.request("GET", "/api/v1/auth/verify")
        assert status == 401 and headers["Content-Type"] == "application/problem+json"
        assert server.request("GET", "/api/v1/openapi.json")[0] == 200

        code = server.setup_code()
        assert code, server.stderr()
        _complete_setup(server, code)
        # The instance folder is ./instance of the empty directory.
        if BACKEND != "postgresql":
            assert (home / "instance" / "tokenapp.db").exists()
        assert (home / "instance" / "secret_key").exists()
    finally:
        server.stop()
    # A restart reuses the unpacked files and the database: the admin exists now.
    again = Server(server.argv[:-2], env=env, cwd=home, log=tmp_path / "serve-again.log")
    try:
        again.start()
        assert again.request("GET", "/setup")[0] == 302
        assert again.setup_code() is None
    finally:
        again.stop()
    size = pyz.stat().st_size / 1e6
    _report(
        request,
        f"{pyz.name}: {size:.1f} MB; /healthz 200 after {cold:.1f} s on first start "
        f"(unpacking), {again.started_in:.1f} s on the next",
    )


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _complete_setup(server, code: str) -> None:
    """The printed code really opens the setup page: the first admin is created."""
    status, headers, body = server.request("GET", "/setup")
    cookies = [c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or []]
    cookie = next((c for c in cookies if c.startswith("tokenapp_session=")), None)
    assert cookie, "\n".join(f"{k}: {v}" for k, v in headers.items())
    token = CSRF.search(body.decode()).group(1)
    form = urlencode(
        {
            "csrf_token": token,
            "code": code,
            "username": "admin",
            "password": "a long enough password",
            "confirm": "a long enough password",
        }
    )
    status, headers, _ = server.request(
        "POST",
        "/setup",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert status == 302, server.stderr()
    assert server.request("GET", "/setup")[0] == 302  # closed once a user exists
