"""/account/sessions: your signed-in browsers, this one marked; end one or all others.

An admin ends every session of a user from the users page. Ending is on the
server (tokenapp/sessions.py): the next request of that browser, on any worker
or node, is signed out.
"""

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import audit
from .. import credentials
from .. import sessions
from ..models import UserSession
from . import bp
from .admin import admin_required
from .admin import user_or_404
from .forms import ActionForm


def _current_digest() -> str | None:
    token = session.get(sessions.SESSION_KEY)
    return credentials.digest(token) if isinstance(token, str) else None


@bp.get("/account/sessions")
@login_required
def account_sessions():
    rows = list(sessions.live(current_user.id).order_by(UserSession.last_seen.desc()))
    page = render_template(
        "account/sessions.html",
        rows=rows,
        current=_current_digest(),
        action=ActionForm(formdata=None),
    )
    return page, 200


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    ended = sessions.end_all(current_user.id, only=session_id)
    if not ended:
        abort(404)
    audit.record("session.end", current_user._get_current_object(), target=str(session_id))
    flash("That session has ended.", "success")
    return redirect(url_for("web.account_sessions"))


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():
    if not ActionForm().validate_on_submit():
        abort(400)
    ended = sessions.end_all(current_user.id, keep=_current_digest() or "")
    audit.record("session.end_others", current_user._get_current_object(), detail={"ended": ended})
    flash(f"Signed out {ended} other session(s).", "success")
    return redirect(url_for("web.account_sessions"))


@bp.post("/admin/users/<int:user_id>/sessions/end")
@admin_required
def admin_end_sessions(user_id: int):
    user = user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    sessions.end_all(user)
    audit.record("session.end_all", current_user._get_current_object(), target=user.username)
    flash(f"Every session of {user.username} has ended.", "success")
    return redirect(url_for("web.admin_users"))
