"""What exists and how to end it: list users, projects, keys and tokens; revoke; reset a password.

Lists print a table for people and, with --json, an array of objects for
scripts: ids and the fields a person reads, never a secret.
"""

import json
import sys
import uuid

import click
from peewee import fn

from .. import accounts
from .. import lifecycle
from ..models import Credential
from ..models import Membership
from ..models import Project
from ..models import User
from . import _project
from . import _user
from . import database
from . import say
from .credentials import key_group
from .credentials import token_group
from .people import project_group
from .people import user_group

json_option = click.option("--json", "as_json", is_flag=True, help="An array of JSON objects.")


def _when(moment) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def _emit(rows: list[dict], columns: list[str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        say("(none)")
        return
    cells = [[_cell(row[name]) for name in columns] for row in rows]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(columns)]
    for line in [[name.upper() for name in columns], *cells]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(value) or "-"
    return str(value)


def _credential(ident: str, kinds: tuple[str, ...]) -> Credential:
    try:
        credential_id = uuid.UUID(ident)
    except ValueError:
        raise click.BadParameter(f"{ident!r} is not an id (a UUID from the list command)") from None
    credential = Credential.get_or_none(
        (Credential.id == credential_id) & (Credential.kind.in_(kinds))
    )
    if credential is None:
        raise click.ClickException(f"No {'token' if kinds == ('pat',) else 'key'} {ident}.")
    return credential


@user_group.command("list")
@json_option
def user_list(as_json):
    """List users.

    Example: tokenapp user list --json
    """
    with database():
        rows = [
            {
                "id": user.id,
                "username": user.username,
                "admin": user.is_admin,
                "active": user.is_active,
                "service_account": user.is_service_account,
                "created_at": _when(user.created_at),
            }
            for user in User.select().order_by(User.username)
        ]
    _emit(rows, ["id", "username", "admin", "active", "service_account", "created_at"], as_json)


@user_group.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def user_set_password(username, password_stdin):
    """Set a user's password (e.g. an admin who forgot theirs); their sessions end.

    Example: echo "$NEW_PASSWORD" | tokenapp user set-password alice --password-stdin
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True)
    with database():
        accounts.set_password(_user(username), password)
    say(f"Set a new password for {username}; their sessions have ended.")


@project_group.command("list")
@json_option
def project_list(as_json):
    """List projects with their owners and member counts.

    Example: tokenapp project list
    """
    with database():
        rows = []
        for project in Project.select().order_by(Project.slug):
            members = list(
                Membership.select(Membership.role, User.username)
                .join(User)
                .where(Membership.project == project)
                .order_by(User.username)
                .tuples()
            )
            rows.append(
                {
                    "id": project.id,
                    "slug": project.slug,
                    "name": project.name,
                    "owners": [name for role, name in members if role == "owner"],
                    "members": len(members),
                }
            )
    _emit(rows, ["id", "slug", "name", "owners", "members"], as_json)


def _credential_row(credential: Credential, **extra) -> dict:
    return {
        "id": str(credential.id),
        "user": credential.user.username,
        "kind": credential.kind,
        "state": credential.state,
        **extra,
        "created_at": _when(credential.created_at),
        "last_used": _when(credential.last_used),
    }


@key_group.command("list")
@click.argument("slug")
@json_option
def key_list(slug, as_json):
    """List a project's keys (every member's), never their secrets.

    Example: tokenapp key list billing --json
    """
    with database():
        query = (
            Credential.select(Credential, User)
            .join(User)
            .where(Credential.project == _project(slug))
            .order_by(User.username, Credential.created_at)
        )
        rows = [
            _credential_row(key, label=key.note, service_account=key.user.is_service_account)
            for key in query
        ]
    columns = ["id", "label", "user", "service_account", "kind", "state", "created_at"]
    _emit(rows, [*columns, "last_used"], as_json)


@token_group.command("list")
@click.option("--user", "username", required=True, help="Whose tokens.")
@json_option
def token_list(username, as_json):
    """List a user's personal access tokens, never their secrets.

    Example: tokenapp token list --user alice
    """
    with database():
        user = _user(username)
        query = (
            Credential.select(Credential, User)
            .join(User)
            .where((Credential.user == user) & (Credential.kind == "pat"))
            .order_by(fn.LOWER(Credential.note), Credential.created_at)
        )
        rows = [
            _credential_row(
                token,
                note=token.note,
                scopes=token.scopes,
                expires_at=_when(token.expires_at),
            )
            for token in query
        ]
    _emit(rows, ["id", "note", "scopes", "state", "expires_at", "last_used"], as_json)


def _revoke(ident: str, kinds: tuple[str, ...], noun: str) -> None:
    with database():
        credential = _credential(ident, kinds)
        if not lifecycle.changeable(credential):
            raise click.ClickException(f"{noun} {ident} was already revoked.")
        lifecycle.revoke(credential)
    say(f"Revoked {noun.lower()} {ident}: its secrets stop working at once.")


@key_group.command("revoke")
@click.argument("ident", metavar="ID")
def key_revoke(ident):
    """Revoke a project key by id (from `tokenapp key list`).

    Example: tokenapp key revoke 6f1c2a4e-…
    """
    _revoke(ident, ("export", "full"), "Key")


@token_group.command("revoke")
@click.argument("ident", metavar="ID")
def token_revoke(ident):
    """Revoke a personal access token by id (from `tokenapp token list`).

    Example: tokenapp token revoke 9a2e…
    """
    _revoke(ident, ("pat",), "Token")
