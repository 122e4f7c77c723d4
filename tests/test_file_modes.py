"""The files that hold every export key and password hash are private, whatever the umask.

The instance folder is 0700; the SQLite database, its -wal and -shm, the
secret key and `tokenapp backup` output are 0600. Always SQLite, whichever
backend the suite runs on: these are SQLite's files.
"""

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PASSWORD

from tokenapp import accounts
from tokenapp import create_app
from tokenapp import db

# Always SQLite's own files (above): the same on either test backend.
pytestmark = pytest.mark.backend_independent

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def make_app(monkeypatch):
    def make(instance, **overrides):
        monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(instance))
        return create_app({"TESTING": True, "BCRYPT_ROUNDS": 4, **overrides})

    yield make
    db.database.close_all()


def _write_and_list(app, folder) -> dict[str, int]:
    """The folder's files and modes while a connection has written (so -wal and -shm exist)."""
    with app.app_context():
        db.migrate()
        with db.database.connection_context():
            accounts.create_user("alice", PASSWORD)
            return {path.name: mode(path) for path in folder.iterdir()}


def test_the_instance_folder_and_everything_in_it_are_private(tmp_path, umask, make_app):
    folder = tmp_path / "instance"
    modes = _write_and_list(make_app(folder), folder)
    assert mode(folder) == PRIVATE_FOLDER
    assert set(modes) >= {"secret_key", "tokenapp.db", "tokenapp.db-wal", "tokenapp.db-shm"}
    assert modes == dict.fromkeys(modes, PRIVATE_FILE)


def test_a_database_outside_the_instance_folder_is_private(tmp_path, umask, make_app):
    folder = tmp_path / "data"
    folder.mkdir()
    url = f"sqlite:///{folder / 'tokens.db'}"
    modes = _write_and_list(make_app(tmp_path / "instance", DATABASE_URL=url), folder)
    assert modes == dict.fromkeys(["tokens.db", "tokens.db-wal", "tokens.db-shm"], PRIVATE_FILE)


def test_backup_output_is_private(tmp_path, umask, make_app):
    app = make_app(tmp_path / "instance")
    _write_and_list(app, tmp_path / "instance")
    runner = app.test_cli_runner()
    target = tmp_path / "backups" / "copy.db"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert mode(target) == PRIVATE_FILE
    assert mode(target.parent) == PRIVATE_FOLDER  # made by the backup
    # A backup replacing a readable file leaves a private one.
    target.chmod(0o644)
    assert runner.invoke(args=["backup", "--force", str(target)]).exit_code == 0
    assert mode(target) == PRIVATE_FILE
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.db"]


def test_an_older_readable_database_is_made_private_by_init(tmp_path, umask):
    """An install from before the 0600 files: `tokenapp init` tightens the file, -wal and -shm."""
    folder = tmp_path / "instance"
    folder.mkdir(mode=0o700)
    path = folder / "tokenapp.db"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
    os.chmod(path, 0o644)
    # Another process holding the database open keeps its -wal and -shm on disk.
    holder = sqlite3.connect(path)
    try:
        holder.execute("PRAGMA journal_mode=wal")
        holder.execute("CREATE TABLE older (x)")
        holder.commit()
        names = ["tokenapp.db", "tokenapp.db-wal", "tokenapp.db-shm"]
        for name in names:
            os.chmod(folder / name, 0o644)
        env = dict(os.environ, TOKENAPP_INSTANCE_PATH=str(folder))
        env["TOKENAPP_DATABASE_URL"] = f"sqlite:///{path}"
        script = Path(sys.executable).with_name("tokenapp")
        init = subprocess.run([script, "init"], env=env, capture_output=True, text=True, timeout=60)
        assert init.returncode == 0, init.stderr
        assert {name: mode(folder / name) for name in names} == dict.fromkeys(names, PRIVATE_FILE)
        said = [line for line in init.stderr.splitlines() if "0600" in line]
        assert len(said) == 1, init.stderr
        assert str(path) in said[0] and "0644" in said[0]
        # Once private, nothing more to say.
        again = subprocess.run(
            [script, "init"], env=env, capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 0, again.stderr
        assert "0600" not in again.stderr
    finally:
        holder.close()
