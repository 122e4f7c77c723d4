"""Log in and out: throttled, no user enumeration, a fresh session on sign-in.

Logout ends the session on the server too (tokenapp/sessions.py).
"""

from urllib.parse import urlsplit

from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_user
from flask_login import logout_user

from .. import accounts
from .. import audit
from .. import sessions
from .. import throttle
from .. import twofactor
from ..fields import USERNAME
from . import bp
from . import pending
from .forms import LoginForm

# One message for an unknown user, a wrong password and a deactivated account,
# so the page never says which usernames exist.
BAD_LOGIN = "Wrong username or password."


def safe_next(target: str | None) -> str | None:
    """target when it is a path on this site; None for anything that could leave it."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def sign_in(user) -> None:
    """Start a new session for user (a new session defeats session fixation)."""
    sessions.end_current()
    session.clear()
    login_user(user)
    session.permanent = True


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url or url_for("web.index"))
    form = LoginForm()
    if form.validate_on_submit():
        attempt = throttle.attempt(form.username.data, request.remote_addr)
        wait = throttle.retry_after(attempt)
        if wait:
            return throttled(wait)
        user = accounts.find_user(form.username.data)
        matched = accounts.password_matches(user, form.password.data)
        if matched and user.is_active:
            throttle.forget(attempt)
            if twofactor.enabled(user):  # the password alone signs no one in
                return pending.begin(user, next_url)
            sign_in(user)
            audit.record("login.success", user)
            return redirect(next_url or url_for("web.index"))
        left = throttle.record_failure(attempt)
        audit.record(
            "login.failure",
            user,
            actor_name=form.username.data.strip().lower()[: USERNAME.high],
            detail={"reason": "inactive" if matched else "credentials"},
        )
        form.form_errors.append(BAD_LOGIN)
        if warning := attempts_left(left):
            form.form_errors.append(warning)
    return render_template("login.html", form=form, next=next_url)


def throttled(wait: int):
    page = render_template("throttled.html", retry_after=wait)
    return page, 429, {"Retry-After": str(wait)}


def attempts_left(left: int) -> str | None:
    """The warning before this username is paused from this address (the same for any name)."""
    if left == 0:
        minutes = -(-current_app.config["LOGIN_FAILURE_WINDOW"] // 60)
        return (
            "No attempts left: sign-in with this username from your address is paused "
            f"for up to {minutes} minutes."
        )
    if left <= 2:
        return f"{left} attempt{'s' if left > 1 else ''} left before sign-in is paused."
    return None


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        audit.record("logout", current_user._get_current_object())
    logout_user()
    session.clear()
    return redirect(url_for("web.login"))
