"""Passkey pages: add and remove on /account/security, sign in with one (second step or alone)."""

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import audit
from .. import passkeys
from .. import throttle
from .. import twofactor
from . import bp
from . import pending
from .changes import attempt
from .forms import ActionForm
from .forms import CodeForm
from .forms import PasskeyForm
from .security import second_step_page
from .session import sign_in
from .session import throttled


@bp.app_template_global()
def passkey_login_options() -> str | None:
    """The sign-in page's passwordless ceremony (any discoverable passkey of this site)."""
    return passkeys.authentication_options(None) if passkeys.relying_party() else None


@bp.post("/account/security/passkeys")
@login_required
def passkey_add():
    form = PasskeyForm()
    if not passkeys.relying_party() or not form.validate_on_submit():
        abort(400)
    attempt(
        lambda: passkeys.register(
            current_user._get_current_object(), form.credential.data, form.name.data
        ),
        passkeys.PasskeyError,
        lambda key: f"Passkey “{key.name}” added.",
    )
    return redirect(url_for("web.account_security"))


@bp.post("/account/security/passkeys/<int:passkey_id>/remove")
@login_required
def passkey_remove(passkey_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    if not passkeys.remove(current_user._get_current_object(), passkey_id):
        abort(404)
    flash("Passkey removed.", "success")
    return redirect(url_for("web.account_security"))


@bp.post("/login/2fa/passkey")
def login_second_factor_passkey():
    found = pending.user()
    if found is None or not passkeys.relying_party():
        return redirect(url_for("web.login"))
    user, next_url = found
    form = PasskeyForm()
    if not form.validate_on_submit():
        abort(400)
    if wait := twofactor.retry_after(user):
        return throttled(wait)
    try:
        passkeys.authenticate(form.credential.data, user)
    except passkeys.PasskeyError as exc:
        twofactor.record_failure(user)
        audit.record("login.2fa.failure", user, detail={"factor": "passkey"})
        code_form = CodeForm(formdata=None)
        code_form.code.errors = [str(exc)]
        return second_step_page(user, code_form, 400)
    twofactor.clear_failures(user)
    pending.end()
    sign_in(user)
    audit.record("login.2fa.success", user, detail={"factor": "passkey"})
    audit.record("login.success", user)
    return redirect(next_url or url_for("web.index"))


@bp.post("/login/passkey")
def login_passkey():
    """Passwordless: a discoverable passkey that verified its user (PIN or biometrics)."""
    form = PasskeyForm()
    if not passkeys.relying_party() or not form.validate_on_submit():
        abort(400)
    # Failures count per address like password ones (a signature cannot be guessed,
    # but a flood of forged answers still costs a verification each).
    attempt = throttle.attempt("(passkey)", request.remote_addr)
    if wait := throttle.retry_after(attempt):
        return throttled(wait)
    try:
        user = passkeys.authenticate(form.credential.data, None)
    except passkeys.PasskeyError as exc:
        throttle.record_failure(attempt)
        audit.record("login.failure", actor_name="passkey", detail={"reason": "passkey"})
        flash(str(exc), "error")
        return redirect(url_for("web.login"))
    if not user.is_active:
        flash("Wrong username or password.", "error")
        return redirect(url_for("web.login"))
    sign_in(user)
    audit.record("login.success", user, detail={"via": "passkey"})
    return redirect(url_for("web.index"))
