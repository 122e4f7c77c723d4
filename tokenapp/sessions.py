"""Server-side sessions: a signed cookie alone no longer proves a live session.

Signing in stores a UserSession row keyed by the SHA-256 of a random id; the
id goes into the signed Flask session. Every page load checks the row has not
ended, so logout ends that session at once on every worker and node, and a
password change or a deactivation ends all of them (User.session_version does
too, independently). Any login_user() call gets a row, through flask-login's
signals. Idle expiry stays with the cookie's signed timestamp
(PERMANENT_SESSION_LIFETIME, checked by Flask on every request).
"""

import datetime
import secrets

from flask import current_app
from flask import request
from flask import session
from flask_login import user_logged_in
from flask_login import user_logged_out

from . import credentials
from .clock import now
from .models import User
from .models import UserSession

SESSION_KEY = "_sid"
# last_seen is written at most once a minute, not on every page load.
TOUCH_EVERY = datetime.timedelta(minutes=1)
# A user's ended and idle rows are kept this long (for a session list), then
# pruned when that user signs in again.
KEEP = datetime.timedelta(days=30)


@user_logged_in.connect
def _start(_app, user: User, **_) -> None:
    end_current()
    token = secrets.token_urlsafe(32)
    moment = now()
    UserSession.create(
        digest=credentials.digest(token),
        user=user.id,
        created_at=moment,
        last_seen=moment,
        user_agent=(request.user_agent.string or "")[:200] or None,
        address=(request.remote_addr or "")[:45] or None,
    )
    session[SESSION_KEY] = token
    horizon = moment - max(KEEP, current_app.permanent_session_lifetime)
    UserSession.delete().where(
        (UserSession.user == user.id) & (UserSession.last_seen < horizon)
    ).execute()


@user_logged_out.connect
def _logged_out(_app, **_) -> None:
    end_current()


def end_current() -> None:
    """End the session this request carries, if any."""
    token = session.pop(SESSION_KEY, None)
    if isinstance(token, str):
        UserSession.update(ended_at=now()).where(
            (UserSession.digest == credentials.digest(token)) & UserSession.ended_at.is_null()
        ).execute()


def end_all(user: User | int, *, only: int | None = None, keep: str | None = None) -> int:
    """End user's sessions (password change, deactivation, the sessions page): every one,
    only the one with id `only`, or all but the one whose digest is `keep`. How many ended."""
    ends = (UserSession.user == user) & UserSession.ended_at.is_null()
    if only is not None:
        ends &= UserSession.id == only
    if keep is not None:
        ends &= UserSession.digest != keep
    return UserSession.update(ended_at=now()).where(ends).execute()


def live(user_id: int):
    """The user's live sessions: not ended, and seen within the cookie's lifetime (older
    rows are dead whatever ended_at says)."""
    horizon = now() - current_app.permanent_session_lifetime
    return UserSession.select().where(
        (UserSession.user == user_id)
        & UserSession.ended_at.is_null()
        & (UserSession.last_seen > horizon)
    )


def live_user(user_id: int) -> User | None:
    """The user of this request's session when that session is live on the server."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    moment = now()
    row = (
        UserSession.select(UserSession, User)
        .join(User)
        .where(
            (UserSession.digest == credentials.digest(token))
            & (UserSession.user == user_id)
            & UserSession.ended_at.is_null()
        )
        .first()
    )
    if row is None:
        return None
    if moment - row.last_seen >= TOUCH_EVERY:
        UserSession.update(last_seen=moment).where(UserSession.id == row.id).execute()
    return row.user
