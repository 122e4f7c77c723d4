"""Two-factor pages: /account/security (enrol, recovery codes, turn off), the 2nd sign-in step."""

from flask import flash
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import audit
from .. import passkeys
from .. import twofactor
from . import bp
from . import pending
from .forms import ActionForm
from .forms import CodeForm
from .forms import PasskeyForm
from .session import sign_in
from .session import throttled

ENROL_KEY = "_totp_enrol"  # the secret being set up, until its first code confirms it
BAD_CODE = "That code is not valid. Codes work once; wait for the next one."


def _security_page(form=None, status=200):
    user = current_user._get_current_object()
    secret = session.get(ENROL_KEY)
    enrolment = None
    if secret and not twofactor.has_totp(user):
        uri = twofactor.provisioning_uri(secret, user.username)
        enrolment = {"secret": secret, "qr": twofactor.qr_svg(uri)}
    page = render_template(
        "account/security.html",
        enabled=twofactor.has_totp(user),
        passkeys=passkeys.of(user),
        passkey_options=passkeys.registration_options(user) if passkeys.relying_party() else None,
        passkey_form=PasskeyForm(formdata=None),
        codes_left=twofactor.recovery_codes_left(user),
        enrolment=enrolment,
        form=form or CodeForm(formdata=None),
        action=ActionForm(formdata=None),
    )
    return page, status


def _codes_page(codes: list[str]):
    page = render_template("account/recovery_codes.html", codes=codes)
    return page, 200


@bp.get("/account/security")
@login_required
def account_security():
    return _security_page()


@bp.post("/account/security/totp/start")
@login_required
def totp_start():
    if not ActionForm().validate_on_submit():
        return _security_page(status=400)
    if not twofactor.has_totp(current_user):
        session[ENROL_KEY] = twofactor.new_secret()
    return redirect(url_for("web.account_security"))


@bp.post("/account/security/totp/confirm")
@login_required
def totp_confirm():
    user = current_user._get_current_object()
    form = CodeForm()
    secret = session.get(ENROL_KEY)
    if not secret or twofactor.has_totp(user):
        return redirect(url_for("web.account_security"))
    if not form.validate_on_submit():
        return _security_page(form, 400)
    if wait := twofactor.retry_after(user):
        return throttled(wait)
    codes = twofactor.enable(user, secret, form.code.data)
    if codes is None:
        twofactor.record_failure(user)
        form.code.errors.append("That code does not match. Check the app's clock and try again.")
        return _security_page(form, 400)
    session.pop(ENROL_KEY, None)
    return _codes_page(codes)


def _second_factor_again(form: CodeForm):
    """The current user's second factor, asked again before changing it; None when accepted."""
    user = current_user._get_current_object()
    if not form.validate_on_submit():
        return _security_page(form, 400)
    if wait := twofactor.retry_after(user):
        return throttled(wait)
    if twofactor.verify(user, form.code.data) is None:
        twofactor.record_failure(user)
        form.code.errors.append(BAD_CODE)
        return _security_page(form, 400)
    twofactor.clear_failures(user)
    return None


@bp.post("/account/security/totp/disable")
@login_required
def totp_disable():
    form = CodeForm()
    if refused := _second_factor_again(form):
        return refused
    twofactor.disable(current_user._get_current_object())
    flash("Two-factor sign-in is off.", "success")
    return redirect(url_for("web.account_security"))


@bp.post("/account/security/recovery-codes")
@login_required
def recovery_codes_regenerate():
    form = CodeForm()
    if refused := _second_factor_again(form):
        return refused
    return _codes_page(twofactor.regenerate_recovery_codes(current_user._get_current_object()))


@bp.route("/login/2fa", methods=["GET", "POST"])
def login_second_factor():
    found = pending.user()
    if found is None:
        return redirect(url_for("web.login"))
    user, next_url = found
    form = CodeForm()
    if form.validate_on_submit():
        if wait := twofactor.retry_after(user):
            return throttled(wait)
        how = twofactor.verify(user, form.code.data)
        if how:
            twofactor.clear_failures(user)
            pending.end()
            sign_in(user)
            audit.record("login.2fa.success", user, detail={"factor": how})
            audit.record("login.success", user)
            return redirect(next_url or url_for("web.index"))
        twofactor.record_failure(user)
        audit.record("login.2fa.failure", user)
        form.code.errors.append(BAD_CODE)
    return second_step_page(user, form, 400 if form.errors else 200)


def second_step_page(user, form, status):
    options = None
    if passkeys.relying_party() and passkeys.of(user):
        options = passkeys.authentication_options(user)
    page = render_template(
        "login_2fa.html",
        form=form,
        totp=twofactor.has_totp(user),
        passkey_options=options,
        passkey_form=PasskeyForm(formdata=None),
    )
    return page, status
