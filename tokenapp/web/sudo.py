"""Sudo mode: a dangerous change asks again who you are when your last sign-in is old.

Creating a full access key or a token with write scopes, widening a token,
regenerating, revoking or deleting a credential, changing the webhook, and an
admin's activate/admin switches need a sign-in (or a confirmation here) within
SUDO_SECONDS. Otherwise the POST is answered with a page asking for the
password or a second-factor code; that page posts the same form back with the
answer, so nothing typed is lost. Failures count like wrong second-factor codes.
Two-factor changes themselves always ask for a code (security.py).
"""

import time

from flask import current_app
from flask import render_template
from flask import request
from flask import session
from flask_login import current_user
from flask_login import user_logged_in

from .. import accounts
from .. import audit
from .. import twofactor
from . import bp

KEY = "_auth_at"
FIELDS = ("sudo_password", "sudo_code")
WRITE = {"manage", "full"}


def _writes(form) -> bool:
    return any(k.startswith("scope_") and v in WRITE for k, v in form.items(multi=True))


SENSITIVE = {
    "web.create_key": lambda form: form.get("kind") == "full",
    "web.create_token": _writes,
    "web.edit_token": _writes,
    "web.regenerate_key": None,
    "web.revoke_key": None,
    "web.regenerate_token": None,
    "web.delete_token": None,
    "web.change_webhook": None,
    "web.set_user_active": None,
    "web.set_user_admin": None,
    "web.passkey_add": None,
    "web.passkey_remove": None,
    "web.admin_end_sessions": None,
}


@user_logged_in.connect
def _stamp(_app, **_) -> None:
    session[KEY] = int(time.time())


def recent() -> bool:
    at = session.get(KEY)
    return isinstance(at, int) and time.time() - at <= current_app.config["SUDO_SECONDS"]


@bp.before_request
def _ask_again():
    if request.method != "POST" or request.endpoint not in SENSITIVE:
        return None
    if not current_user.is_authenticated or recent():
        return None
    check = SENSITIVE[request.endpoint]
    if check is not None and not check(request.form):
        return None
    user = current_user._get_current_object()
    if any(request.form.get(name) for name in FIELDS):
        if wait := twofactor.retry_after(user):
            page = render_template("throttled.html", retry_after=wait)
            return page, 429, {"Retry-After": str(wait)}
        if _confirmed(user):
            twofactor.clear_failures(user)
            session[KEY] = int(time.time())
            audit.record("sudo", user)
            return None
        twofactor.record_failure(user)
        audit.record("sudo.failure", user)
        return _page(user, wrong=True)
    return _page(user)


def _confirmed(user) -> bool:
    code = request.form.get("sudo_code", "")
    if code and twofactor.verify(user, code):
        return True
    password = request.form.get("sudo_password", "")
    return bool(password) and accounts.password_matches(user, password)


def _page(user, *, wrong: bool = False):
    kept = [
        (k, v) for k, v in request.form.items(multi=True) if k not in FIELDS and k != "csrf_token"
    ]
    page = render_template(
        "sudo.html",
        action=request.full_path.rstrip("?"),
        kept=kept,
        with_code=twofactor.has_totp(user),
        wrong=wrong,
    )
    return page, 403
