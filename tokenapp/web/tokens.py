"""Personal access token pages (the Locoia document): list, create, edit,
regenerate, delete, and each token's effective access.

As on the key page, a new secret is rendered only in the response to the POST
that made it (never stored in the session, never behind a redirect).
"""

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import lifecycle
from .. import projects
from ..access import catalogue
from ..access import explain
from ..models import Credential
from ..models import expires_soon
from ..scopes import OPERATIONS
from . import bp
from . import once
from .changes import save_limits
from .listing import Listing
from .token_forms import ConfirmForm
from .token_forms import LimitsForm
from .token_forms import RegenerateTokenForm
from .token_forms import rotation
from .token_forms import token_form


def _own_token(token_id: str) -> Credential:
    credential = Credential.token_of(current_user.id, token_id)
    if credential is None:
        abort(404)
    return credential


def _live_token(token_id: str) -> Credential:
    """The user's token, for a change: 409 once it cannot change (lifecycle's rule)."""
    return lifecycle.still_changes(_own_token(token_id))


@bp.app_template_global()
@bp.app_template_test()
def scope_known(scope: str) -> bool:
    """False for a scope the (replaced) catalogue no longer knows: it grants nothing."""
    return catalogue().known(scope)


def _badge(credential: Credential) -> str:
    state = credential.state
    if state == "active" and expires_soon(credential.expires_at):
        return "expires soon"
    return state


TOKEN_SORTS = {
    "created": (Credential.created_at.desc(), Credential.id),
    "expires": (Credential.expires_at.asc(nulls="last"), Credential.id),
    "last_used": (Credential.last_used.desc(nulls="last"), Credential.id),
    "note": (Credential.note, Credential.id),
}


@bp.get("/tokens")
@login_required
def list_tokens():
    listing = Listing.from_request(TOKEN_SORTS)
    mine = listing.search(Credential.tokens_of(current_user.id), Credential.note)
    live, more = listing.page_of(mine.where(Credential.revoked_at.is_null()), TOKEN_SORTS)
    revoked = list(
        mine.where(Credential.revoked_at.is_null(False))
        .order_by(Credential.revoked_at.desc())
        .limit(100)
    )
    return render_template(
        "tokens/index.html",
        tokens=live,
        revoked=revoked,
        listing=listing,
        sorts={
            "created": "newest first",
            "expires": "expiring soonest",
            "last_used": "recently used",
            "note": "note",
        },
        more=more,
        badge=_badge,
    )


@bp.route("/tokens/new", methods=["GET", "POST"])
@login_required
def create_token():
    form = token_form(catalogue(), with_expiry=True)
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("tokens/new.html", form=form), status
    if replay := once.replayed(form, "token:new", "web.list_tokens"):
        return replay
    credential, secret = lifecycle.issue(
        "pat",
        current_user,
        form.note.data,
        scopes=form.picker.scopes(form),
        expires_at=lifecycle.expiry(form.expiration_days()),
    )
    page = render_template(
        "tokens/created.html", token=credential, secret=secret, badge=_badge, verb="created"
    )
    return page, 201  # no-store: transport.security_headers, as on every page


def _detail(credential: Credential, *, regenerate_form=None, limits_form=None, status=200):
    page = render_template(
        "tokens/detail.html",
        token=credential,
        badge=_badge,
        grace_until=lifecycle.grace_until(credential.id),
        access=effective_access(credential),
        operations=OPERATIONS,
        regenerate_form=regenerate_form or RegenerateTokenForm(formdata=None),
        limits_form=limits_form or LimitsForm.of(credential),
        confirm_form=ConfirmForm(formdata=None),
    )
    return page, status


@bp.get("/tokens/<token_id>")
@login_required
def show_token(token_id: str):
    return _detail(_own_token(token_id))


@bp.route("/tokens/<token_id>/edit", methods=["GET", "POST"])
@login_required
def edit_token(token_id: str):
    credential = _live_token(token_id)
    form = token_form(catalogue(), with_expiry=False)
    if not form.is_submitted():
        form = token_form(
            catalogue(),
            with_expiry=False,
            formdata=None,
            data={"note": credential.note, **form.picker.initial(credential.scopes)},
        )
    elif form.validate():
        lifecycle.update(
            credential,
            actor=current_user,
            note=form.note.data,
            scopes=form.picker.scopes(form),
        )
        flash("Token updated.", "success")
        return redirect(url_for("web.show_token", token_id=credential.id), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("tokens/edit.html", form=form, token=credential), status


@bp.post("/tokens/<token_id>/regenerate")
@login_required
def regenerate_token(token_id: str):
    credential = _live_token(token_id)
    form = RegenerateTokenForm()
    if not form.validate():
        return _detail(credential, regenerate_form=form, status=422)
    if replay := once.replayed(
        form, f"token:{credential.id}", "web.show_token", token_id=credential.id
    ):
        return replay
    secret = lifecycle.regenerate(
        credential,
        expires_at=lifecycle.expiry(form.expiration_days()),
        **rotation(form),
        actor=current_user,
    )
    page = render_template(
        "tokens/created.html",
        token=credential,
        secret=secret,
        badge=_badge,
        verb="regenerated",
        grace_until=lifecycle.grace_until(credential.id),
    )
    return page, 200


@bp.post("/tokens/<token_id>/limits")
@login_required
def set_token_limits(token_id: str):
    credential = _live_token(token_id)
    return save_limits(
        credential,
        lambda form: _detail(credential, limits_form=form, status=422),
        url_for("web.show_token", token_id=credential.id, _anchor="limits"),
    )


@bp.post("/tokens/<token_id>/delete")
@login_required
def delete_token(token_id: str):
    credential = _own_token(token_id)
    if not ConfirmForm().validate():
        abort(400)
    lifecycle.revoke(credential, actor=current_user)
    flash(f"Token “{credential.note}” revoked: it no longer works.", "success")
    return redirect(url_for("web.list_tokens"), 303)


def effective_access(credential: Credential) -> list[dict]:
    """Per project of the user: per entity, each operation → None (allowed) or the refusing layer.

    The same `explain` as the API's, so the page says what the API would do.
    """
    scopes = tuple(credential.scopes or ())
    result = []
    for project in projects.visible_to(current_user.id):
        role = project.membership.role
        rows = [
            {"entity": entity, "cells": cells} for entity, cells in explain(scopes, role).items()
        ]
        result.append({"project": project, "role": role, "rows": rows})
    return result
