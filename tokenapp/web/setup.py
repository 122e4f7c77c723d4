"""First run: the setup page, usable only while no user exists."""

from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import login_user

from .. import accounts
from .. import audit
from . import bp
from .forms import SetupForm

# Pages that make no sense before the first account exists send people to /setup.
BEFORE_SETUP = {"web.index", "web.login"}


@bp.before_request
def _send_to_setup():
    if request.endpoint in BEFORE_SETUP and accounts.setup_needed():
        return redirect(url_for("web.setup"))
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if not accounts.setup_needed():
        return redirect(url_for("web.login"))
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = accounts.complete_setup(form.code.data, form.username.data, form.password.data)
        except accounts.AccountError as exc:
            form.form_errors.append(str(exc))
        else:
            session.clear()
            login_user(user)
            session.permanent = True
            audit.record("login.success", user, detail={"setup": True})
            return redirect(url_for("web.index"))
    return render_template(
        "setup.html", form=form, min_length=current_app.config["PASSWORD_MIN_LENGTH"]
    )
