"""First run: the setup page, usable only while no user exists."""

from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from .. import accounts
from .. import audit
from .. import setup_code
from . import bp
from .forms import SetupForm
from .session import sign_in

# Pages that make no sense before the first account exists send people to /setup.
BEFORE_SETUP = {"web.index", "web.login"}


@bp.before_request
def _send_to_setup():
    if request.endpoint in BEFORE_SETUP and setup_code.setup_needed():
        return redirect(url_for("web.setup"))
    return None


def _domain_rules(form: SetupForm) -> bool:
    """Every problem at once: the code, the username and the password rules, each at its field.

    The summary at the top repeats them; the passwords stay filled in (SetupForm).
    """
    if request.method != "POST":
        return False
    checks = [
        (form.code, lambda: setup_code.setup_code_matches(form.code.data) or _bad_code()),
        (form.username, lambda: accounts.normalise(form.username.data)),
        (form.password, lambda: accounts.check_password_rules(form.password.data)),
    ]
    for field, check in checks:
        if not field.data or field.errors:
            continue
        try:
            check()
        except accounts.AccountError as exc:
            field.errors = [*field.errors, str(exc)]
    problems = [error for field in form for error in field.errors if field.name != "csrf_token"]
    form.form_errors.extend(problems)
    return not problems


def _bad_code():
    raise accounts.AccountError("That setup code is not valid.")


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if not setup_code.setup_needed():
        return redirect(url_for("web.login"))
    form = SetupForm()
    if form.validate_on_submit() & _domain_rules(form):
        try:
            user = setup_code.complete_setup(form.code.data, form.username.data, form.password.data)
        except accounts.AccountError as exc:
            form.form_errors.append(str(exc))
        else:
            sign_in(user)  # the same start of a session as /login
            audit.record("login.success", user, detail={"setup": True})
            return redirect(url_for("web.index"))
    return render_template(
        "setup.html", form=form, min_length=current_app.config["PASSWORD_MIN_LENGTH"]
    )
