"""Credential commands: project keys and personal access tokens (each prints a secret alone)."""

import click
from flask import current_app
from flask.cli import AppGroup

from .. import lifecycle
from .. import policy
from .. import projects
from ..fields import EXPIRATION_DAYS
from ..fields import NOTE
from ..scopes import InvalidScope
from . import _project
from . import _user
from . import database

key_group = AppGroup("key", help="Project keys (export and full access).")


@key_group.command("create")
@click.argument("slug")
@click.option("--user", "username", required=True, help="The member the key acts as.")
@click.option("--kind", required=True, type=click.Choice(["export", "full"]))
@click.option("--label", default=None, help="What the key is for.")
def key_create(slug, username, kind, label):
    """Create a project key and print its secret (alone, on stdout).

    Example: tokenapp key create billing --user alice --kind export --label deploy
    """
    with database():
        project, user = _project(slug), _user(username)
        if projects.membership_of(project, user.username) is None:
            raise click.ClickException(f"{username} is not a member of {slug}.")
        _, secret = lifecycle.issue(kind, user, label or f"{kind} key", project=project)
    click.echo(secret)


token_group = AppGroup("token", help="Personal access tokens.")


def _expiration(value: str) -> int | None:
    if value == "never":
        return None
    low, high = EXPIRATION_DAYS.low, EXPIRATION_DAYS.high
    if not value.isdigit() or not low <= int(value) <= high:
        raise click.BadParameter(f"a whole number of days from {low} to {high}, or 'never'")
    return int(value)


@token_group.command("create")
@click.option("--user", "username", required=True)
@click.option("--note", required=True, help=f"What the token is for (1-{NOTE.high} characters).")
@click.option("--scope", "scope_list", multiple=True, required=True, help="Repeat for each scope.")
@click.option("--expiration", required=True, help="Days until it expires, or 'never'.")
def token_create(username, note, scope_list, expiration):
    """Create a personal access token and print its secret (alone, on stdout).

    Example: tokenapp token create --user alice --note ci --scope dashboard:view --expiration 30
    """
    days = _expiration(expiration)
    with database():
        refused = policy.refusal(days)
    if refused:
        raise click.BadParameter(refused, param_hint="--expiration")
    note = note.strip()
    if not NOTE.low <= len(note) <= NOTE.high:
        raise click.BadParameter(f"1 to {NOTE.high} characters", param_hint="--note")
    catalogue = current_app.extensions["tokenapp.scopes"]
    try:
        for scope in scope_list:
            catalogue.validate(scope)
    except InvalidScope as exc:
        raise click.BadParameter(str(exc), param_hint="--scope") from None
    with database():
        _, secret = lifecycle.issue(
            "pat",
            _user(username),
            note,
            scopes=sorted(set(scope_list)),
            expires_at=lifecycle.expiry(days),
        )
    click.echo(secret)
