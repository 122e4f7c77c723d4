"""What every page that changes something does after its form is read: run the
domain's change, then say how it went (a flash) and send the browser on."""

from collections.abc import Callable

from flask import flash
from flask import redirect
from flask_login import current_user

from .. import lifecycle
from ..models import Credential
from .token_forms import LimitsForm


def attempt(change: Callable, refusal: type[Exception], done: str | Callable) -> bool:
    """Run `change`; flash the domain's refusal (its message) or `done` (or `done(result)`).

    True when the change was made.
    """
    try:
        result = change()
    except refusal as exc:
        flash(str(exc), "error")
        return False
    flash(done(result) if callable(done) else done, "success")
    return True


def save_limits(credential: Credential, refused: Callable, back: str):
    """The limits form of a token's or a key's page: `refused(form)` renders its errors (422)."""
    form = LimitsForm()
    if not form.validate():
        return refused(form)
    lifecycle.update(credential, actor=current_user, **form.limits())
    flash(f"Limits of “{credential.note}” saved.", "success")
    return redirect(back, 303)
