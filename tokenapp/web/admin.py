"""Admin: list and create users, deactivate/reactivate, grant/revoke admin, unlock sign-in."""

from functools import wraps

from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import accounts
from .. import throttle
from ..models import User
from . import bp
from .changes import attempt
from .forms import ActionForm
from .forms import CreateUserForm
from .forms import ResetPasswordForm


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _page(form=None, status=200):
    users = User.select().order_by(User.username)
    return (
        render_template(
            "admin/users.html",
            users=users,
            form=form or CreateUserForm(formdata=None),
            action=ActionForm(formdata=None),
            failures=throttle.failures_by_username(),
            min_length=current_app.config["PASSWORD_MIN_LENGTH"],
        ),
        status,
    )


@bp.get("/admin/users")
@admin_required
def admin_users():
    return _page()


@bp.post("/admin/users")
@admin_required
def create_user():
    form = CreateUserForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        user = accounts.create_user(
            form.username.data,
            form.password.data,
            is_admin=form.is_admin.data,
            actor=current_user._get_current_object(),
        )
    except accounts.AccountError as exc:
        form.form_errors.append(str(exc))
        return _page(form, 400)
    flash(f"Created {user.username}.", "success")
    return redirect(url_for("web.admin_users"))


def user_or_404(user_id: int) -> User:
    """The user an admin's action names (the users and sessions pages), or 404."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        abort(404)
    return user


def _flag(form: ActionForm) -> bool:
    if not form.validate_on_submit() or form.value.data not in ("0", "1"):
        abort(400)
    return form.value.data == "1"


# A user's flags an admin turns on and off: how each is set, and what the page then says.
FLAGS = {
    "is_active": (
        accounts.set_active,
        lambda user, on: f"{'Reactivated' if on else 'Deactivated'} {user.username}.",
    ),
    "is_admin": (
        accounts.set_admin,
        lambda user, on: f"{user.username} is {'now' if on else 'no longer'} an administrator.",
    ),
}


def _set_flag(user_id: int, flag: str):
    """Turn a user's flag on or off as the form says; nothing to do when it already is."""
    user = user_or_404(user_id)
    wanted = _flag(ActionForm())
    if wanted != getattr(user, flag):
        change, said = FLAGS[flag]
        actor = current_user._get_current_object()
        done = said(user, wanted)
        attempt(lambda: change(user, wanted, actor=actor), accounts.AccountError, done)
    return redirect(url_for("web.admin_users"))


@bp.post("/admin/users/<int:user_id>/active")
@admin_required
def set_user_active(user_id: int):
    return _set_flag(user_id, "is_active")


@bp.post("/admin/users/<int:user_id>/admin")
@admin_required
def set_user_admin(user_id: int):
    return _set_flag(user_id, "is_admin")


@bp.post("/admin/users/<int:user_id>/unlock")
@admin_required
def unlock_user(user_id: int):
    user = user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    throttle.unlock(user, actor=current_user._get_current_object())
    flash(f"Cleared the failed sign-ins of {user.username}.", "success")
    return redirect(url_for("web.admin_users"))


@bp.route("/admin/users/<int:user_id>/password", methods=["GET", "POST"])
@admin_required
def reset_password(user_id: int):
    """Account recovery: a temporary password the user must change at the next sign-in."""
    user = user_or_404(user_id)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(
                user,
                form.password.data,
                actor=current_user._get_current_object(),
                must_change=user.id != current_user.id,
            )
        except accounts.AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            flash(
                f"New password set for {user.username}; their sessions have ended and they "
                "must choose their own password at the next sign-in.",
                "success",
            )
            return redirect(url_for("web.admin_users"), 303)
    status = 422 if form.errors else 200
    page = render_template(
        "admin/reset_password.html",
        user=user,
        form=form,
        min_length=current_app.config["PASSWORD_MIN_LENGTH"],
    )
    return page, status
