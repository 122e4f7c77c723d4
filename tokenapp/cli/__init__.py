"""The `tokenapp` command (also `flask --app tokenapp ...`).

Commands that create a secret print the secret alone on stdout; everything
else a command says goes to stderr.
"""

import difflib
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask
from flask import current_app
from flask.cli import FlaskGroup
from flask.cli import with_appcontext

from .. import accounts
from .. import audit
from .. import db
from .. import projects
from .. import setup_code
from ..config import SERVE_THREADS
from ..models import Project
from ..models import User

ANY_ADDRESS = ("0.0.0.0", "::", "")  # noqa: S104  (to print a URL one can open, not to bind)


@contextmanager
def database(*, needs_schema: bool = True) -> Iterator[None]:
    """A connection for one command; a refusal from the domain becomes a one-line error.

    A command that needs the current schema says "run tokenapp init" rather
    than end in a traceback about a missing table; init, serve (they migrate)
    and scan (it works without tables) pass needs_schema=False.
    """
    pending = db.pending() if needs_schema else []
    if pending:
        raise click.ClickException(
            f"The database is not at the current schema ({len(pending)} migration(s) pending): "
            "run `tokenapp init` first."
        )
    operator = audit.OPERATOR.set(f"cli:{_os_user()}")
    try:
        with db.database.connection_context():
            try:
                yield
            except (accounts.AccountError, projects.ProjectError) as exc:
                raise click.ClickException(str(exc)) from None
    finally:
        audit.OPERATOR.reset(operator)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return str(os.getuid())


def say(message: str) -> None:
    click.echo(message, err=True)


def _user(username: str) -> User:
    user = accounts.find_user(username)
    if user is None:
        raise click.ClickException(f"No user {username!r}.")
    return user


def _project(slug: str) -> Project:
    project = Project.get_or_none(Project.slug == slug.strip().lower())
    if project is None:
        raise click.ClickException(f"No project {slug!r}.")
    return project


@click.command("init")
@with_appcontext
def init_command():
    """Create the database or bring it to the current schema.

    Example: tokenapp init
    """
    with database(needs_schema=False):
        applied = db.migrate()
    say(f"Applied {len(applied)} migration(s)." if applied else "Database is up to date.")


def _bind(ctx, param, value: str) -> str:
    """HOST:PORT, or a bare PORT meaning 127.0.0.1:PORT."""
    value = value.strip()
    if value.isdigit():
        value = f"127.0.0.1:{value}"
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise click.BadParameter(
            f"{value!r} is not HOST:PORT or PORT (e.g. 127.0.0.1:8000 or 8000)"
        )
    return value


@click.command("serve")
@click.option(
    "--bind",
    default="127.0.0.1:8000",
    show_default=True,
    callback=_bind,
    help="HOST:PORT to listen on; a bare PORT means 127.0.0.1:PORT.",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=SERVE_THREADS, show_default=True, type=click.IntRange(1, 64))
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help="TLS certificate.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help="TLS private key.")
@with_appcontext
def serve_command(bind, workers, threads, certfile, keyfile):
    """Migrate, then serve with gunicorn.

    While no user exists it prints a one-time setup code to enter on /setup.

    Example: tokenapp serve --bind 0.0.0.0:8000 --workers 4
    """
    from ..serving import serve

    if bool(certfile) != bool(keyfile):
        raise click.UsageError("--certfile and --keyfile go together.")
    with database(needs_schema=False):
        db.migrate()
        needs_setup = setup_code.setup_needed()
        # Another node (or an earlier start) may have printed a code: reuse it.
        code = setup_code.current_setup_code() if needs_setup else None
    scheme = "https" if certfile else "http"
    host = bind.rsplit(":", 1)[0].strip("[]")
    port = bind.rsplit(":", 1)[-1]
    shown = "127.0.0.1" if host in ANY_ADDRESS else host
    url = f"{scheme}://{shown}:{port}/"
    say(f"tokenapp serving on {url}")
    if code:
        say(f"First run: open {url}setup and enter the one-time setup code: {code}")
    serve(
        current_app._get_current_object(),
        bind=bind,
        workers=workers,
        threads=threads,
        certfile=certfile,
        keyfile=keyfile,
    )


@click.command("setup-code")
@with_appcontext
def setup_code_command():
    """Print a new one-time setup code (for deployments not started by `serve`).

    Example: tokenapp setup-code
    """
    with database():
        if not setup_code.setup_needed():
            raise click.ClickException("Setup is done: a user exists.")
        click.echo(setup_code.new_setup_code())


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(username, admin, password_stdin):
    """Create a user; asks for the password unless --password-stdin.

    Example: echo "$PASSWORD" | tokenapp create-user alice --admin --password-stdin
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    with database():
        user = accounts.create_user(username, password, is_admin=admin)
    say(f"Created user {user.username}{' (admin)' if admin else ''}.")


from .credentials import key_group  # noqa: E402  (needs database() above)
from .credentials import token_group  # noqa: E402
from .inventory import key_list  # noqa: E402,F401  (registers on the groups above)
from .operations import audit_group  # noqa: E402  (needs say() above)
from .operations import backup_command  # noqa: E402
from .operations import notify_expiring_command  # noqa: E402
from .operations import scan_command  # noqa: E402
from .people import project_group  # noqa: E402  (needs database() above)
from .people import user_group  # noqa: E402
from .security import user_reset_2fa  # noqa: E402,F401  (registers on user_group)

COMMANDS = (
    init_command,
    serve_command,
    setup_code_command,
    create_user_command,
    project_group,
    user_group,
    key_group,
    token_group,
    backup_command,
    scan_command,
    audit_group,
    notify_expiring_command,
)


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app():
    from .. import create_app

    return create_app()


class Group(FlaskGroup):
    """tokenapp's own commands only, found without loading the app.

    FlaskGroup loads the app to list commands, so `--help` would create the
    instance folder and its secret key wherever it ran; each command loads the
    app itself (with_appcontext) when it runs. Flask's run/routes/shell stay
    with `flask --app tokenapp`.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.commands.get(name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.commands:
            close = difflib.get_close_matches(name, self.commands, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return version("tokenapp")
    except PackageNotFoundError:
        return "unknown"


cli = Group(
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    help="tokenapp: self-hosted API keys and personal access tokens.",
)
for _command in COMMANDS:
    cli.add_command(_command)
cli = click.version_option(
    _version(), "--version", prog_name="tokenapp", message="%(prog)s %(version)s"
)(cli)


def main() -> None:
    cli.main(prog_name="tokenapp")
