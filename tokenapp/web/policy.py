"""Two-factor policy: an admin requires it of admins or of everyone (/admin/security).

A signed-in user the policy covers who has no second factor is sent to
/account/security to enrol before any other page opens. A single sign-on
counts as two-factor when the provider says so (`amr` holds mfa, otp or hwk)
or when TOKENAPP_OIDC_TRUST_MFA says the provider always asks for it.
"""

from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice
from wtforms import SelectField

from .. import twofactor
from . import bp
from .admin import admin_required

CHOICES = [
    SelectChoice("none", "No one (each person chooses)"),
    SelectChoice("admins", "Administrators"),
    SelectChoice("everyone", "Everyone"),
]
SSO_MFA = "_mfa_by_sso"  # in the session: this sign-in's provider did two-factor
MFA_METHODS = {"mfa", "otp", "hwk"}  # RFC 8176 amr values that mean a second factor
# Pages a user who must enrol can still open: the account page and its password change
# too, which a temporary password (account.py) sends them to first; else each sends
# the other away, forever.
OPEN = {
    "web.account",
    "web.change_password",
    "web.account_security",
    "web.totp_start",
    "web.totp_confirm",
    "web.logout",
    "web.login",
    "web.login_second_factor",
    "web.login_sso",
    "web.login_sso_callback",
}


class PolicyForm(FlaskForm):
    require = SelectField("Require two-factor sign-in of", choices=CHOICES)


def provider_did_mfa(claims: dict) -> bool:
    if current_app.config.get("OIDC_TRUST_MFA"):
        return True
    amr = claims.get("amr")
    return isinstance(amr, list) and bool(MFA_METHODS & {str(m) for m in amr})


@bp.before_request
def _send_to_enrol():
    if request.endpoint in OPEN or not current_user.is_authenticated:
        return None
    if session.get(SSO_MFA) or not twofactor.required_of(current_user):
        return None
    if twofactor.enabled(current_user):
        return None
    flash("Your administrator requires two-factor sign-in: set it up to continue.", "error")
    return redirect(url_for("web.account_security"))


@bp.route("/admin/security", methods=["GET", "POST"])
@admin_required
def admin_security():
    form = PolicyForm(require=twofactor.policy())
    if form.validate_on_submit():
        twofactor.set_policy(form.require.data, actor=current_user._get_current_object())
        flash("Two-factor policy saved.", "success")
        return redirect(url_for("web.admin_security"))
    return render_template("admin/security.html", form=form)
