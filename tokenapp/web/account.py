"""The account page: change the password (ends other sessions), the webhook URL."""

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import accounts
from .. import throttle
from . import bp
from .forms import PasswordForm
from .forms import WebhookForm
from .session import attempts_left
from .session import sign_in
from .session import throttled

# Pages a user with a temporary password (set by an admin) may see before choosing their own.
TEMPORARY_PASSWORD_ALLOWS = {"web.account", "web.change_password", "web.logout", "static"}


@bp.before_app_request
def _temporary_password_first():
    if (
        current_user.is_authenticated
        and current_user.must_change_password
        and request.endpoint not in TEMPORARY_PASSWORD_ALLOWS
        and request.blueprint == "web"
    ):
        flash("An administrator set your password: choose your own to continue.", "warning")
        return redirect(url_for("web.account", _anchor="password-heading"))
    return None


def _page(password_form=None, webhook_form=None, status=200):
    user = current_user._get_current_object()
    webhook_form = webhook_form or WebhookForm(formdata=None, webhook_url=user.webhook_url)
    return (
        render_template(
            "account.html",
            password_form=password_form or PasswordForm(formdata=None),
            webhook_form=webhook_form,
            min_length=current_app.config["PASSWORD_MIN_LENGTH"],
        ),
        status,
    )


@bp.get("/account")
@login_required
def account():
    return _page()


@bp.post("/account/password")
@login_required
def change_password():
    user = current_user._get_current_object()
    form = PasswordForm()
    if not form.validate_on_submit():
        return _page(password_form=form, status=400)
    # The current password is a password guess like a sign-in: same throttle.
    attempt = throttle.attempt(user.username, request.remote_addr)
    wait = throttle.retry_after(attempt)
    if wait:
        return throttled(wait)
    if not accounts.password_matches(user, form.current.data):
        left = throttle.record_failure(attempt)
        form.current.errors.append("That is not your current password.")
        if warning := attempts_left(left):
            form.current.errors.append(warning)
        return _page(password_form=form, status=400)
    try:
        accounts.set_password(user, form.password.data)
    except accounts.AccountError as exc:
        form.password.errors.append(str(exc))
        return _page(password_form=form, status=400)
    # set_password bumped session_version: every other session has ended; keep this one.
    sign_in(user)
    flash("Password changed. Every other session has been signed out.", "success")
    return redirect(url_for("web.account"))


@bp.post("/account/webhook")
@login_required
def change_webhook():
    form = WebhookForm()
    if not form.validate_on_submit():
        return _page(webhook_form=form, status=400)
    try:
        accounts.set_webhook_url(current_user._get_current_object(), form.webhook_url.data)
    except accounts.AccountError as exc:  # a destination webhooks may not reach
        form.webhook_url.errors.append(str(exc))
        return _page(webhook_form=form, status=400)
    flash("Webhook URL saved." if form.webhook_url.data else "Webhook URL removed.", "success")
    return redirect(url_for("web.account"))
