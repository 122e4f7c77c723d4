"""`tokenapp backup PATH`: a consistent SQLite copy while the app writes; pg_dump advice."""

import sqlite3
import threading
import time

import pytest

from tokenapp import accounts
from tokenapp import create_app
from tokenapp import db
from tokenapp import projects
from tokenapp.models import Document

# An SQLite file of its own, or a PostgreSQL URL never connected to: either backend alike.
pytestmark = pytest.mark.backend_independent


@pytest.fixture
def sqlite_app(tmp_path, monkeypatch):
    """Always SQLite, whichever backend the suite runs on: backup is SQLite's."""
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "BCRYPT_ROUNDS": 4})
    with app.app_context():
        db.migrate()
    yield app
    db.database.close_all()


def _writer(app, project_id, user_id, stop, written, errors, limit_s=10.0):
    deadline = time.monotonic() + limit_s
    try:
        with app.app_context(), db.database.connection_context():
            while not stop.is_set() and time.monotonic() < deadline:
                with db.database.atomic():
                    for offset in range(5):
                        Document.create(
                            project=project_id,
                            collection="dashboards",
                            body={"n": written[0] + offset, "pad": "x" * 200},
                            created_by=user_id,
                        )
                written[0] += 5  # committed
    except Exception as exc:  # reported by the test
        errors.append(exc)


def test_backup_under_write_load_is_consistent(sqlite_app, tmp_path):
    with sqlite_app.app_context(), db.database.connection_context():
        owner = accounts.create_user("alice", "correct horse battery staple", is_admin=True)
        project = projects.create("billing", None, owner)
    stop, written, errors = threading.Event(), [0], []
    thread = threading.Thread(
        target=_writer, args=(sqlite_app, project.id, owner.id, stop, written, errors)
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while written[0] < 500 and time.monotonic() < deadline:
            time.sleep(0.02)
        before = written[0]
        target = tmp_path / "backups" / "tokenapp.db"
        result = sqlite_app.test_cli_runner().invoke(args=["backup", str(target)])
        during = written[0]
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not errors, errors
    assert result.exit_code == 0, result.output
    assert "integrity_check ok" in result.output
    print(f"backup taken while {during - before} documents were written")

    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file
        rows = copy.execute("SELECT count(*) FROM document").fetchone()[0]
        users = copy.execute("SELECT username FROM user").fetchall()
        migrations = copy.execute("SELECT count(*) FROM schema_migration").fetchone()[0]
    finally:
        copy.close()
    assert users == [("alice",)]
    assert migrations > 0
    # A snapshot taken at one moment: whole transactions only (5 documents each).
    assert before <= rows <= written[0] and rows % 5 == 0, (before, rows, written[0])
    assert not (target.parent / "tokenapp.db-wal").exists()


def test_backup_refuses_the_database_itself_and_a_missing_one(sqlite_app, tmp_path):
    runner = sqlite_app.test_cli_runner()
    own = sqlite_app.config["DATABASE_URL"].removeprefix("sqlite:///")
    result = runner.invoke(args=["backup", own])
    assert result.exit_code == 1 and "another file" in result.output

    empty = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"})
    result = empty.test_cli_runner().invoke(args=["backup", str(tmp_path / "copy.db")])
    assert result.exit_code == 1 and "No database" in result.output


def test_backup_on_postgresql_explains_pg_dump(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"DATABASE_URL": "postgresql://tokenapp:s3cret@db.intranet:5432/tokenapp"})
    try:
        result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "x.db")])
    finally:
        db.database.close_all()
    assert result.exit_code == 2
    assert "pg_dump" in result.output and "psql" in result.output
    assert "db.intranet:5432/tokenapp" in result.output
    assert "s3cret" not in result.output
    assert not (tmp_path / "x.db").exists()
