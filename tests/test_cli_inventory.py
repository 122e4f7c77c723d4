"""The CLI beyond creation: lists, revoke, password reset, and its manners.

Lists and revokes go through Flask's CLI runner on the test database; the
manners (`--help`, `--version`, "did you mean", `serve --bind PORT`) through
the real console script, in an empty folder, since what they must not touch
is the file system.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PASSWORD
from conftest import bearer

from tokenapp.models import AuditEvent
from tokenapp.models import User

SCRIPT = Path(sys.executable).with_name("tokenapp")
VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def cli(runner):
    def run(*args, input=None, ok=True):
        result = runner.invoke(args=list(args), input=input)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


@pytest.fixture
def team(cli):
    """alice owns billing; bob is an editor with a key; alice has a PAT."""
    for name in ("alice", "bob"):
        cli("create-user", name, "--password-stdin", input=PASSWORD + "\n")
    cli("project", "create", "billing", "--owner", "alice", "--name", "Billing API")
    cli("project", "add-member", "billing", "bob", "--role", "editor")
    secrets = {
        "bob_key": cli(
            "key", "create", "billing", "--user", "bob", "--kind", "full", "--label", "bob laptop"
        ).stdout.strip(),
        "alice_pat": cli(
            "token",
            "create",
            "--user",
            "alice",
            "--note",
            "ci",
            "--scope",
            "dashboard:view",
            "--expiration",
            "30",
        ).stdout.strip(),
    }
    return secrets


def test_lists_print_json_arrays_without_a_secret(cli, team):
    users = json.loads(cli("user", "list", "--json").stdout)
    assert [(u["username"], u["admin"], u["active"]) for u in users] == [
        ("alice", False, True),
        ("bob", False, True),
    ]
    assert all(isinstance(u["id"], int) for u in users)

    projects = json.loads(cli("project", "list", "--json").stdout)
    assert [(p["slug"], p["name"], p["owners"], p["members"]) for p in projects] == [
        ("billing", "Billing API", ["alice"], 2)
    ]

    keys_out = cli("key", "list", "billing", "--json").stdout
    keys = json.loads(keys_out)
    assert [(k["label"], k["user"], k["kind"], k["state"]) for k in keys] == [
        ("bob laptop", "bob", "full", "active")
    ]

    tokens_out = cli("token", "list", "--user", "alice", "--json").stdout
    tokens = json.loads(tokens_out)
    assert [(t["note"], t["scopes"], t["state"]) for t in tokens] == [
        ("ci", ["dashboard:view"], "active")
    ]
    for secret in team.values():
        assert secret not in keys_out + tokens_out
        assert secret.split("_", 1)[1][:12] not in keys_out + tokens_out


def test_lists_as_tables_for_people(cli, team):
    table = cli("key", "list", "billing").stdout.splitlines()
    assert table[0].split() == [
        "ID", "LABEL", "USER", "SERVICE_ACCOUNT", "KIND", "STATE", "CREATED_AT", "LAST_USED"
    ]  # fmt: skip
    assert "bob laptop" in table[1] and "active" in table[1]
    empty = cli("token", "list", "--user", "bob")
    assert empty.stdout == "" and "(none)" in empty.stderr


def test_key_and_token_revoke_by_id_stop_the_secret_and_are_attributed_to_the_operator(
    cli, team, client, ctx
):
    key_id = json.loads(cli("key", "list", "billing", "--json").stdout)[0]["id"]
    token_id = json.loads(cli("token", "list", "--user", "alice", "--json").stdout)[0]["id"]
    assert client.get(VERIFY, headers=bearer(team["bob_key"])).status_code == 200

    cli("key", "revoke", key_id)
    cli("token", "revoke", token_id)

    assert client.get(VERIFY, headers=bearer(team["bob_key"])).status_code == 401
    assert client.get(VERIFY, headers=bearer(team["alice_pat"])).status_code == 401
    again = cli("key", "revoke", key_id, ok=False)
    assert again.exit_code == 1 and "already revoked" in again.stderr
    # A key id is not a token id and the other way round.
    assert cli("token", "revoke", key_id, ok=False).exit_code == 1
    assert "not an id" in cli("key", "revoke", "nonsense", ok=False).stderr

    revokes = AuditEvent.select().where(AuditEvent.action == "credential.revoke")
    assert {e.actor_name for e in revokes} == {f"cli:{_os_user()}"}
    assert {e.actor_id for e in revokes} == {None}


def _os_user() -> str:
    import getpass

    return getpass.getuser()


def test_cli_actions_are_the_operators_never_the_targets(cli, team, ctx):
    events = {
        (e.action, e.actor_name)
        for e in AuditEvent.select().where(
            AuditEvent.action.in_(["user.create", "project.create", "member.add"])
        )
    }
    assert events == {
        ("user.create", f"cli:{_os_user()}"),
        ("project.create", f"cli:{_os_user()}"),
        ("member.add", f"cli:{_os_user()}"),
    }


def test_set_password_from_stdin_ends_sessions(cli, team, client, auth, ctx):
    auth.login("alice")
    assert client.get("/tokens").status_code == 200
    new = "another long passphrase"
    result = cli("user", "set-password", "alice", "--password-stdin", input=new + "\n")
    assert result.stdout == ""
    assert client.get("/tokens").status_code == 302  # the old session ended
    assert auth.login("alice", new).status_code == 302
    assert client.get("/tokens").status_code == 200
    short = cli("user", "set-password", "alice", "--password-stdin", input="short\n", ok=False)
    assert short.exit_code == 1
    assert User.get(User.username == "alice").session_version >= 1


def test_backup_refuses_to_overwrite_without_force(cli, team, tmp_path, app):
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("backup copies SQLite files; PostgreSQL uses pg_dump")
    target = tmp_path / "copy.db"
    target.write_text("precious")
    refused = cli("backup", str(target), ok=False)
    assert refused.exit_code == 1
    assert "--force" in refused.stderr
    assert target.read_text() == "precious"
    cli("backup", str(target), "--force")
    assert target.read_bytes().startswith(b"SQLite format 3")


def _script(*args, cwd, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAPP_")}
    env.update(env_extra or {})
    return subprocess.run(
        [SCRIPT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.backend_independent
def test_help_and_version_touch_no_file_and_hide_flasks_commands(tmp_path):
    for args in (["--help"], ["--version"], ["user", "--help"], ["key", "list", "--help"]):
        result = _script(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert list(tmp_path.iterdir()) == [], args
    help_text = _script("--help", cwd=tmp_path).stdout
    commands = {line.split()[0] for line in help_text.split("Commands:")[1].splitlines() if line}
    assert {"init", "serve", "key", "token", "user", "project", "backup"} <= commands
    assert not {"run", "routes", "shell"} & commands
    version = _script("--version", cwd=tmp_path).stdout.strip()
    assert version.startswith("tokenapp ") and version.split()[1][0].isdigit()


@pytest.mark.backend_independent
def test_a_typo_gets_a_suggestion(tmp_path):
    result = _script("sevre", cwd=tmp_path)
    assert result.returncode == 2
    assert "No such command 'sevre'. Did you mean 'serve'?" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.backend_independent
def test_serve_bind_with_a_bare_port_means_loopback():
    from tokenapp.cli import serve_command

    runner = CliRunner()
    # --certfile without --keyfile stops serve before it binds, after --bind is parsed.
    result = runner.invoke(serve_command, ["--bind", "nonsense"])
    assert result.exit_code == 2 and "not HOST:PORT or PORT" in result.output
    result = runner.invoke(serve_command, ["--bind", "8211:99999"])
    assert result.exit_code == 2
    from tokenapp.cli import _bind

    assert _bind(None, None, "8211") == "127.0.0.1:8211"
    assert _bind(None, None, "0.0.0.0:8000") == "0.0.0.0:8000"
    assert _bind(None, None, "[::1]:8000") == "[::1]:8000"
