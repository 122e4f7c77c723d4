"""Company single sign-on: OpenID Connect with Authlib's Flask client.

Configured by TOKENAPP_OIDC_ISSUER, _CLIENT_ID and _CLIENT_SECRET (all three,
or none); the provider's endpoints and keys come from its discovery document.
Authlib keeps state, nonce and the PKCE verifier in the signed session, checks
state on the way back (once: it is popped), and verifies the ID token: its
signature against the provider's JWKS, issuer, audience, nonce and expiry.

A person is known by (issuer, sub), never by email or username, which a
provider may let them change. Unknown people get an account when
TOKENAPP_OIDC_AUTO_CREATE is true; members of TOKENAPP_OIDC_ADMIN_GROUP (the
`groups` claim) are made admins, and non-members lose the role, at each sign-in.
"""

import re
import secrets

from authlib.integrations.flask_client import OAuth
from flask import Flask
from flask import current_app

from . import accounts
from . import audit
from .clock import now
from .config import ImproperlyConfigured
from .db import database
from .fields import USERNAME
from .models import ExternalIdentity
from .models import User

SCOPES = "openid profile email groups"
EXTENSION = "tokenapp_sso"


class SignInRefused(Exception):
    """The provider vouched for someone tokenapp will not sign in; the message says why."""


def init_app(app: Flask) -> None:
    names = ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")
    given = [name for name in names if app.config.get(name)]
    if not given:
        return
    if len(given) != len(names):
        missing = ", ".join(f"TOKENAPP_{n}" for n in names if n not in given)
        raise ImproperlyConfigured(f"Single sign-on needs {missing} as well.")
    issuer = str(app.config["OIDC_ISSUER"]).rstrip("/")
    oauth = OAuth(app)
    oauth.register(
        "sso",
        client_id=str(app.config["OIDC_CLIENT_ID"]),
        client_secret=str(app.config["OIDC_CLIENT_SECRET"]),
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPES, "code_challenge_method": "S256", "timeout": 10},
    )
    app.extensions[EXTENSION] = oauth.sso


def client():
    return current_app.extensions.get(EXTENSION)


def enabled() -> bool:
    return client() is not None


def button_label() -> str:
    return f"Sign in with {current_app.config.get('OIDC_NAME') or 'single sign-on'}"


def check_issuer(metadata: dict) -> None:
    """The discovery document must name the configured issuer (OIDC Discovery 4.3)."""
    configured = str(current_app.config["OIDC_ISSUER"]).rstrip("/")
    if str(metadata.get("issuer", "")).rstrip("/") != configured:
        raise SignInRefused("The provider's discovery document names another issuer.")


def user_for(claims: dict) -> User:
    """The tokenapp user the verified claims name: found by (iss, sub), or made when allowed."""
    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    if not issuer or not subject:
        raise SignInRefused("The provider sent no subject.")
    link = (
        ExternalIdentity.select(ExternalIdentity, User)
        .join(User)
        .where((ExternalIdentity.issuer == issuer) & (ExternalIdentity.subject == subject))
        .first()
    )
    if link is not None:
        user = link.user
        ExternalIdentity.update(last_used=now()).where(ExternalIdentity.id == link.id).execute()
    elif current_app.config.get("OIDC_AUTO_CREATE"):
        user = _create(issuer, subject, claims)
    else:
        raise SignInRefused("You have no tokenapp account yet: ask an administrator for one.")
    if not user.is_active:
        raise SignInRefused("This account is deactivated.")
    if user.is_service_account:
        raise SignInRefused("A service account cannot sign in.")
    _sync_admin(user, claims)
    return user


def link(user: User, claims: dict) -> None:
    """Remember (iss, sub) for an existing user (the CLI links accounts made before SSO)."""
    accounts.refuse_service_account(user, "cannot sign in")
    with database.atomic():
        ExternalIdentity.create(user=user.id, issuer=claims["iss"], subject=claims["sub"])
        audit.record("user.sso_link", target=user.username, detail={"issuer": claims["iss"]})


def _create(issuer: str, subject: str, claims: dict) -> User:
    base = _username_from(claims)
    with database.atomic():
        for n in range(1, 100):
            name = base if n == 1 else f"{base[:60]}-{n}"
            if accounts.find_user(name) is None:
                break
        # A random password no one knows: this person signs in through the provider.
        user = accounts.create_user(name, secrets.token_urlsafe(32))
        ExternalIdentity.create(user=user.id, issuer=issuer, subject=subject, last_used=now())
        audit.record("user.sso_create", user, target=user.username, detail={"issuer": issuer})
    return user


def _username_from(claims: dict) -> str:
    for raw in (claims.get("preferred_username"), str(claims.get("email") or "").split("@")[0]):
        name = re.sub(r"[^a-z0-9_.-]", "-", str(raw or "").strip().lower()).strip("-._")[
            : USERNAME.high
        ]
        if name:
            return name
    return "user"


def _sync_admin(user: User, claims: dict) -> None:
    group = current_app.config.get("OIDC_ADMIN_GROUP")
    if not group:
        return
    groups = claims.get("groups")
    member = isinstance(groups, list) and group in groups
    if member != user.is_admin:
        try:
            accounts.set_admin(user, member)
        except accounts.AccountError:
            pass  # the last active admin keeps the role whatever the provider says
