"""The `tokenapp` command through click's runner, and once as the real console script."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PASSWORD
from conftest import bearer

from tokenapp import accounts
from tokenapp import credentials
from tokenapp import db
from tokenapp.models import Credential
from tokenapp.models import Membership
from tokenapp.models import User

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def cli(runner):
    """Run a command; stdout and stderr apart, so 'the secret alone on stdout' can be checked."""

    def run(*args, input=None):
        return runner.invoke(args=list(args), input=input)

    return run


@pytest.fixture
def alice(cli):
    result = cli("create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    return "alice"


@pytest.fixture
def billing(cli, alice):
    result = cli("project", "create", "billing", "--owner", alice, "--name", "Billing API")
    assert result.exit_code == 0, result.output
    return "billing"


def user(name: str) -> User:
    from tokenapp import db

    with db.database.connection_context():
        return User.get(User.username == name)


def test_init_twice_is_idempotent(cli, app):
    first = cli("init")
    second = cli("init")
    assert first.exit_code == second.exit_code == 0
    assert "up to date" in second.stderr


def test_create_user_reads_the_password_from_stdin(cli, app):
    result = cli("create-user", "Bob", "--admin", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0
    assert result.stdout == ""
    created = user("bob")
    assert created.is_admin and created.password_hash.startswith(accounts.HASH_MARKER + "$2b$")


def test_create_user_prompts_for_the_password_twice(cli, app):
    result = cli("create-user", "carol", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert not user("carol").is_admin


def test_project_create_add_and_remove_member(cli, app, billing):
    assert cli("create-user", "dave", "--password-stdin", input=PASSWORD).exit_code == 0
    assert cli("project", "add-member", billing, "dave", "--role", "editor").exit_code == 0
    from tokenapp import db

    with db.database.connection_context():
        roles = {m.user.username: m.role for m in Membership.select().join(User)}
    assert roles == {"alice": "owner", "dave": "editor"}
    assert cli("project", "remove-member", billing, "dave").exit_code == 0
    with db.database.connection_context():
        assert Membership.select().count() == 1


@pytest.mark.parametrize("kind", ["export", "full"])
def test_key_create_prints_the_secret_alone(cli, client, billing, kind):
    result = cli("key", "create", billing, "--user", "alice", "--kind", kind, "--label", "ci")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n"
    assert credentials.parse(secret).kind == kind
    body = client.get(VERIFY, headers=bearer(secret)).get_json()
    assert body["project"] == {"slug": "billing", "role": "owner"}


@pytest.mark.parametrize(
    ("expiration", "expires"), [("30", True), ("never", False)], ids=["days", "never"]
)
def test_token_create_prints_only_the_secret(cli, client, alice, expiration, expires):
    result = cli(
        "token", "create", "--user", alice, "--note", "ci",
        "--scope", "dashboard:view", "--scope", "embed", "--expiration", expiration,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n"
    body = client.get(VERIFY, headers=bearer(secret)).get_json()
    assert body["credential"]["scopes"] == ["dashboard:view", "embed"]
    assert (body["credential"]["expires_at"] is not None) is expires


def test_user_deactivate_stops_credentials_and_activate_restores_them(cli, client, alice):
    result = cli("token", "create", "--user", alice, "--note", "n", "--scope", "embed",
                 "--expiration", "never")  # fmt: skip
    secret = result.stdout.strip()
    assert cli("user", "deactivate", alice).exit_code == 0
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 401
    assert cli("user", "activate", alice).exit_code == 0
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200


BAD_COMMANDS = [
    ("create-user", "bob", "--password-stdin"),  # empty password
    ("create-user", "alice", "--password-stdin"),  # taken (input gives a password)
    ("create-user", "bad name!", "--password-stdin"),
    ("project", "create", "Bad Slug", "--owner", "alice"),
    ("project", "create", "other", "--owner", "nobody"),
    ("project", "create", "billing", "--owner", "alice"),  # taken
    ("project", "add-member", "billing", "alice", "--role", "owner"),  # already a member
    ("project", "add-member", "billing", "alice", "--role", "boss"),
    ("project", "add-member", "nowhere", "alice", "--role", "viewer"),
    ("project", "remove-member", "billing", "alice"),  # the last owner
    ("project", "remove-member", "billing", "nobody"),
    ("user", "deactivate", "nobody"),
    ("key", "create", "billing", "--user", "nobody", "--kind", "full"),
    ("key", "create", "billing", "--user", "alice", "--kind", "pat"),
    ("key", "create", "nowhere", "--user", "alice", "--kind", "full"),
    ("token", "create", "--user", "alice", "--note", "n", "--scope", "nope", "--expiration", "7"),
    ("token", "create", "--user", "alice", "--note", "n", "--scope", "embed", "--expiration", "0"),
    ("token", "create", "--user", "alice", "--note", "n", "--scope", "embed", "--expiration", "x"),
    ("token", "create", "--user", "alice", "--note", " ", "--scope", "embed", "--expiration", "7"),
    ("token", "create", "--user", "alice", "--note", "n", "--expiration", "7"),
    ("token", "create", "--user", "nobody", "--note", "n", "--scope", "embed", "--expiration", "7"),
]


@pytest.mark.parametrize("args", BAD_COMMANDS, ids=" ".join)
def test_bad_arguments_give_a_one_line_error_and_no_traceback(cli, billing, args):
    password = PASSWORD if "alice" in args and args[0] == "create-user" else ""
    result = cli(*args, input=password)
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert result.stdout == ""


def test_the_console_script_runs_outside_the_test_process(tmp_path, database_url):
    script = Path(sys.executable).with_name("tokenapp")
    env = dict(os.environ, TOKENAPP_INSTANCE_PATH=str(tmp_path / "inst"))
    env["TOKENAPP_DATABASE_URL"] = database_url
    init = subprocess.run([script, "init"], env=env, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    made = subprocess.run(
        [script, "create-user", "zoe", "--password-stdin"],
        input=PASSWORD,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    bad = subprocess.run(
        [script, "user", "deactivate", "nobody"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip() == "Error: No user 'nobody'."
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.backend_independent
def test_a_command_before_init_says_so_in_one_line(tmp_path):
    script = Path(sys.executable).with_name("tokenapp")
    env = dict(os.environ, TOKENAPP_INSTANCE_PATH=str(tmp_path / "inst"))
    env["TOKENAPP_DATABASE_URL"] = f"sqlite:///{tmp_path / 'empty.db'}"
    early = subprocess.run(
        [script, "user", "deactivate", "bob"], env=env, capture_output=True, text=True, timeout=60
    )
    assert early.returncode == 1
    migrations = len(list(Path(db.MIGRATIONS).glob("0*.py")))
    assert early.stderr.strip() == (
        f"Error: The database is not at the current schema ({migrations} migration(s) pending): "
        "run `tokenapp init` first."
    )


def test_the_last_active_admin_cannot_be_deactivated(cli, app):
    made = cli("create-user", "root", "--admin", "--password-stdin", input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    refused = cli("user", "deactivate", "root")
    assert refused.exit_code == 1
    assert "last active administrator" in refused.stderr
    assert user("root").is_active


def test_credentials_made_by_the_cli_are_stored_as_digests(cli, billing):
    full = cli("key", "create", billing, "--user", "alice", "--kind", "full").stdout.strip()
    from tokenapp import db
    from tokenapp.models import Secret

    with db.database.connection_context():
        stored = [(s.digest, s.clear) for s in Secret.select()]
        assert Credential.select().count() == 1
    assert stored == [(credentials.digest(full), None)]
