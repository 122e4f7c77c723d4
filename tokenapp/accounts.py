"""Users: passwords, the first-run setup code, flask-login.

Sign-in throttling is in throttle.py, server-side sessions in sessions.py.
"""

import base64
import hashlib
import hmac
import re

import bcrypt
from flask import Flask
from flask import current_app
from flask import g
from flask import request
from flask_login import LoginManager
from peewee import IntegrityError

from . import audit
from . import credentials
from . import db
from . import delivery
from . import fields
from . import hashing
from . import sessions
from . import validation
from .db import database
from .models import User
from .transport import sessionless

USERNAME = re.compile(rf"[a-z0-9][a-z0-9_.-]{{0,{fields.USERNAME.high - 1}}}")
# A service account's name, NAME@PROJECT (service_accounts.py): no person's name holds "@".
SERVICE_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
# Hashes of a fixed password, one per cost: checking one keeps an unknown
# username exactly as slow as a known one (same rounds), so timing names nobody.
_DUMMY_HASHES: dict[int, bytes] = {}

login_manager = LoginManager()
login_manager.login_view = "web.login"
# No binding of a session to its address or user agent: flask-login's "strong"
# mode does nothing for permanent sessions, and made to hold it would sign out
# people whose address changes (mobile, IPv6 privacy addresses, proxies) while
# stopping no thief (a user agent is copied as easily as the cookie). What does
# stop a copied cookie: it is HttpOnly (Secure over HTTPS), and the session it
# names ends on the server at logout (sessions.py).
login_manager.session_protection = None
# Stored hashes of the current scheme start with this; older ones are plain bcrypt.
HASH_MARKER = "$hmac-sha256$"
# The pre-hash is keyed with a fixed label, not SECRET_KEY: rotating that keeps passwords.
_PREHASH_KEY = b"tokenapp password pre-hash v2"


class AccountError(ValueError):
    """A request about accounts that cannot be honoured; the message says why."""


def refuse_service_account(user: User, what: str) -> None:
    """Service accounts never sign in, hold a password or a token, or administer (issue 15)."""
    if user.is_service_account:
        raise AccountError(f"{user.username} is a service account: it {what}.")


def normalise(username: str) -> str:
    name = (username or "").strip().lower()
    if not USERNAME.fullmatch(name):
        raise AccountError(
            f"Usernames are {fields.USERNAME.low}-{fields.USERNAME.high} characters: letters, "
            "digits, '.', '_' and '-', starting with a letter or digit."
        )
    return name


def check_password_rules(password: str) -> None:
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password or "") < minimum:
        raise AccountError(f"Passwords need at least {minimum} characters.")
    if len(password) > 1024:
        raise AccountError("Passwords are at most 1024 characters.")


def hash_password(password: str) -> str:
    rounds = current_app.config["BCRYPT_ROUNDS"]
    return (
        HASH_MARKER
        + hashing.run(bcrypt.hashpw, _prehash(password), bcrypt.gensalt(rounds)).decode()
    )


def password_matches(user: User | None, password: str) -> bool:
    """Check password; an old-style hash that matches is upgraded on the spot."""
    password = password or ""
    if user is None or user.is_service_account:  # it has no password: as slow as anyone's
        hashing.run(bcrypt.checkpw, _prehash(password), _dummy_hash())
        return False
    stored = user.password_hash
    if stored.startswith(HASH_MARKER):
        return hashing.run(bcrypt.checkpw, _prehash(password), stored[len(HASH_MARKER) :].encode())
    if not hashing.run(bcrypt.checkpw, _legacy_prehash(password), stored.encode()):
        return False
    # Only if unchanged meanwhile; the same password, so every session stays.
    upgraded = hash_password(password)
    User.update(password_hash=upgraded).where(
        (User.id == user.id) & (User.password_hash == stored)
    ).execute()
    user.password_hash = upgraded
    return True


def _dummy_hash() -> bytes:
    rounds = current_app.config["BCRYPT_ROUNDS"]
    if rounds not in _DUMMY_HASHES:
        _DUMMY_HASHES[rounds] = bcrypt.hashpw(_prehash("not a password"), bcrypt.gensalt(rounds))
    return _DUMMY_HASHES[rounds]


def _prehash(password: str) -> bytes:
    # Every password, short or long, becomes 44 bytes: bcrypt's 72-byte limit
    # never bites, and no typed password equals the bcrypt input of another one
    # (the old scheme's hex SHA-256 of a long password was itself a password).
    mac = hmac.new(_PREHASH_KEY, password.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac)


def _legacy_prehash(password: str) -> bytes:
    """The scheme before HASH_MARKER: as is up to 72 bytes, else the hex SHA-256."""
    data = password.encode()
    return data if len(data) <= 72 else credentials.digest(password).encode()


def create_user(
    username: str, password: str, *, is_admin: bool = False, actor: User | None = None
) -> User:
    name = normalise(username)
    check_password_rules(password)
    try:
        with database.atomic():
            user = User.create(
                username=name, password_hash=hash_password(password), is_admin=is_admin
            )
            audit.record("user.create", actor or user, target=name, detail={"admin": is_admin})
    except IntegrityError:
        raise AccountError(f"The username {name!r} is taken.") from None
    return user


def set_password(
    user: User, password: str, *, actor: User | None = None, must_change: bool = False
) -> None:
    """A new password; every session ends. An admin's (must_change) is changed at sign-in."""
    refuse_service_account(user, "has no password and cannot sign in")
    check_password_rules(password)
    with database.atomic():
        user.password_hash = hash_password(password)
        user.session_version += 1
        user.must_change_password = must_change
        user.save(only=[User.password_hash, User.session_version, User.must_change_password])
        sessions.end_all(user)
        detail = {"must_change": True} if must_change else None
        audit.record("user.password", actor or user, target=user.username, detail=detail)


def set_active(user: User, active: bool, *, actor: User | None = None) -> None:
    with database.atomic():
        _hold_admins(user, actor)
        if not active and is_last_active_admin(user):
            raise AccountError("The last active administrator cannot be deactivated.")
        user.is_active = active
        user.session_version += 1
        user.save(only=[User.is_active, User.session_version])
        sessions.end_all(user)
        audit.record("user.activate" if active else "user.deactivate", actor, target=user.username)


def set_admin(user: User, admin: bool, *, actor: User | None = None) -> None:
    if admin:
        refuse_service_account(user, "cannot be an administrator")
    with database.atomic():
        _hold_admins(user, actor)
        if not admin and is_last_active_admin(user):
            raise AccountError("The last active administrator keeps the admin role.")
        user.is_admin = admin
        user.save(only=[User.is_admin])
        audit.record("user.admin", actor, target=user.username, detail={"admin": admin})


def _hold_admins(user: User, actor: User | None) -> None:
    """Lock every active admin's row, then read `user` (and the acting admin) afresh.

    Two admins deactivating each other must run one after the other, the
    second seeing the first's change: both lock the same rows, in one order.
    """
    db.lock(User.select(User.id).where(User.is_admin & User.is_active))
    fresh = User.get_by_id(user.id)
    user.is_admin, user.is_active = fresh.is_admin, fresh.is_active
    user.session_version = fresh.session_version
    acting = actor and User.get_or_none(User.id == actor.id)
    if actor is not None and not (acting and acting.is_admin and acting.is_active):
        raise AccountError("Only an active administrator can do this, and you no longer are one.")


def set_webhook_url(user: User, url: str | None) -> None:
    """Save (or with None/"" remove) the user's webhook URL; AccountError if refused."""
    try:
        url = validation.webhook_url(url)
        if url:
            delivery.check_saved(url)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    user.webhook_url = url
    with database.atomic():
        user.save(only=[User.webhook_url])
        audit.record("user.webhook", user, target=user.username)


def is_last_active_admin(user: User) -> bool:
    """True when user is the only active admin: they must keep both flags."""
    if not (user.is_admin and user.is_active):
        return False
    others = User.select().where(User.is_admin & User.is_active & (User.id != user.id))
    return not others.exists()


def find_user(username: str) -> User | None:
    """A person or a service account by name (any case), or None."""
    name = (username or "").strip().lower()
    if len(name) > fields.USERNAME.high or not (
        USERNAME.fullmatch(name) or SERVICE_USERNAME.fullmatch(name)
    ):
        return None
    return User.get_or_none(User.username == name)


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    try:
        user = sessions.live_user(int(user_id))
    except ValueError:
        return None
    if user is None or not user.is_active or str(user.session_version) != version:
        return None
    if user.is_service_account:  # no session of one is ever started; none is honoured
        return None
    return user


def _nobody_on_the_api() -> None:
    # Before any hook asks for current_user: flask-login would otherwise look for a
    # session and a remember cookie on every API request (~25 µs, bench/profile.md).
    if sessionless(request.path):
        g._login_user = login_manager.anonymous_user()


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.before_request(_nobody_on_the_api)
