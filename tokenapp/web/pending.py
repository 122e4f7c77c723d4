"""The state between a correct password and a correct second factor.

It is not a signed-in user: flask-login knows nothing of it, so no page that
needs sign-in opens. It names the user, their session version (a password
change or deactivation meanwhile voids it) and when it began (it lasts
PENDING_SECONDS), and lives in the signed session cookie.
"""

import time

from flask import redirect
from flask import session
from flask import url_for

from ..models import User

KEY = "_2fa_pending"
PENDING_SECONDS = 5 * 60


def begin(user: User, next_url: str | None):
    """After the password: a fresh session holding only the pending state."""
    session.clear()
    session[KEY] = {
        "user": user.id,
        "version": user.session_version,
        "at": int(time.time()),
        "next": next_url,
    }
    return redirect(url_for("web.login_second_factor"))


def user() -> tuple[User, str | None] | None:
    """The pending user and where they were going; None when nothing is pending (or it lapsed)."""
    state = session.get(KEY)
    if not isinstance(state, dict):
        return None
    if not isinstance(state.get("at"), int) or time.time() - state["at"] > PENDING_SECONDS:
        session.pop(KEY, None)
        return None
    found = User.get_or_none(User.id == state.get("user"))
    if found is None or not found.is_active or found.session_version != state.get("version"):
        session.pop(KEY, None)
        return None
    return found, state.get("next")


def end() -> None:
    session.pop(KEY, None)
