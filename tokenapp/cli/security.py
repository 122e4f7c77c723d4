"""Sign-in recovery and linking: `user reset-2fa`, `user link-sso`."""

import click
from flask import current_app
from peewee import IntegrityError

from .. import sso
from .. import twofactor
from . import _user
from . import database
from . import say
from .people import user_group


@user_group.command("reset-2fa")
@click.argument("username")
def user_reset_2fa(username):
    """Remove a user's second factors (authenticator app, recovery codes, passkeys), audited.

    For someone locked out with neither their app nor a recovery code; they sign
    in with their password alone and can enrol again.

    Example: tokenapp user reset-2fa alice
    """
    with database():
        user = _user(username)
        if not twofactor.enabled(user):
            say(f"{user.username} has no second factor.")
            return
        twofactor.disable(user, passkeys=True)
    say(f"Removed the second factor of {user.username}.")


@user_group.command("link-sso")
@click.argument("username")
@click.argument("subject")
def user_link_sso(username, subject):
    """Let an existing user sign in through single sign-on as the provider's SUBJECT (its `sub`).

    Example: tokenapp user link-sso alice 3f2c9a7e-1b4d-4e0a-9c55-2d8f0b6a1e77
    """
    issuer = current_app.config.get("OIDC_ISSUER")
    if not issuer:
        raise click.ClickException("Single sign-on is not configured (TOKENAPP_OIDC_ISSUER).")
    with database():
        user = _user(username)
        try:
            sso.link(user, {"iss": str(issuer).rstrip("/"), "sub": subject})
        except IntegrityError:
            raise click.ClickException("That subject is already linked to a user.") from None
    say(f"{user.username} now signs in through single sign-on as {subject}.")
