"""Users and projects from the command line: members, activation, unlocking."""

import click
from flask.cli import AppGroup

from .. import accounts
from .. import projects
from .. import service_accounts
from .. import throttle
from ..models import ROLES
from . import _project
from . import _user
from . import database
from . import say

project_group = AppGroup("project", help="Projects and their members.")


@project_group.command("create")
@click.argument("slug")
@click.option("--owner", required=True, help="Username of the first owner.")
@click.option("--name", help="Display name (default: the slug).")
def project_create(slug, owner, name):
    """Create a project owned by OWNER.

    Example: tokenapp project create billing --owner alice --name "Billing API"
    """
    with database():
        project = projects.create(slug, name, _user(owner))
    say(f"Created project {project.slug}.")


@project_group.command("add-member")
@click.argument("slug")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
def project_add_member(slug, username, role):
    """Add USERNAME to the project with a role.

    Example: tokenapp project add-member billing bob --role editor
    """
    with database():
        projects.add_member(_project(slug), _user(username), role)
    say(f"Added {username} to {slug} as {role}.")


@project_group.command("add-service-account")
@click.argument("slug")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(service_accounts.ROLES))
def project_add_service_account(slug, name, role):
    """Add a service account NAME@SLUG to the project: it never signs in; the project's
    owners create its keys, which keep working whoever made them.

    Example: tokenapp project add-service-account billing deploy --role editor
    """
    with database():
        try:
            user = service_accounts.add(_project(slug), name, role)
        except projects.ProjectError as exc:
            if exc.field != "username" or isinstance(exc, projects.ProjectConflict):
                raise
            raise click.BadParameter(str(exc), param_hint="'NAME'") from None
    say(
        f"Added service account {user.username} to {slug} as {role}; create its keys with "
        f"`tokenapp key create {slug} --user {user.username} --kind full`."
    )


@project_group.command("remove-member")
@click.argument("slug")
@click.argument("username")
def project_remove_member(slug, username):
    """Remove USERNAME (a person or a service account) from the project; their keys stop at once.

    Example: tokenapp project remove-member billing bob
    """
    with database():
        membership = projects.membership_of(_project(slug), username)
        if membership is None:
            raise click.ClickException(f"{username} is not a member of {slug}.")
        projects.remove_member(membership)
    say(f"Removed {username} from {slug}.")


user_group = AppGroup("user", help="Activate, deactivate and unlock users.")


def _set_active(username: str, active: bool) -> None:
    with database():
        accounts.set_active(_user(username), active)
    say(f"{'Activated' if active else 'Deactivated'} {username}.")


@user_group.command("deactivate")
@click.argument("username")
def user_deactivate(username):
    """Deactivate a user: their sessions and every credential stop at once.

    Example: tokenapp user deactivate bob
    """
    _set_active(username, False)


@user_group.command("activate")
@click.argument("username")
def user_activate(username):
    """Reactivate a user.

    Example: tokenapp user activate bob
    """
    _set_active(username, True)


@user_group.command("unlock")
@click.argument("username")
def user_unlock(username):
    """Clear the failed sign-ins counted against a user, from every address.

    Example: tokenapp user unlock alice
    """
    with database():
        user = _user(username)
        cleared = throttle.unlock(user)
    say(f"Unlocked {user.username} ({cleared} failed sign-in(s) cleared).")
