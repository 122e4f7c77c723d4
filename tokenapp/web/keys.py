"""The key page of a project ("developer tools", the Loco document).

Export keys are shown at any time. A full access key's secret is rendered
once, in the response to the POST that made it: it is never put in the
session (Flask's session is a signed, not encrypted, cookie) nor behind a
redirect, and every HTML response is ``Cache-Control: no-store``
(transport.py), so a reload or the back button cannot bring it back.
"""

import uuid

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import lifecycle
from .. import urls
from ..models import Credential
from ..models import Membership
from ..models import Project
from . import bp
from . import once
from .projects import membership_or_404
from .token_forms import ConfirmForm
from .token_forms import KeyForm
from .token_forms import LimitsForm
from .token_forms import RegenerateKeyForm

KINDS = ("export", "full")
EXAMPLE_COLLECTION = "dashboards"


def _own_key(membership: Membership, key_id: str) -> Credential:
    try:
        key = uuid.UUID(key_id)
    except ValueError:
        abort(404)
    credential = Credential.get_or_none(
        (Credential.id == key)
        & (Credential.user == current_user.id)
        & (Credential.project == membership.project.id)
        & Credential.kind.in_(KINDS)
    )
    if credential is None:
        abort(404)
    return credential


def _live_key(membership: Membership, key_id: str) -> Credential:
    """The user's key, for a change: a revoked one cannot change (409)."""
    credential = _own_key(membership, key_id)
    if credential.revoked_at is not None:
        abort(409)
    return credential


def _keys(membership: Membership, limits_forms: dict) -> list[dict]:
    rows = (
        Credential.select()
        .where(
            (Credential.user == current_user.id)
            & (Credential.project == membership.project.id)
            & Credential.kind.in_(KINDS)
        )
        .order_by(Credential.revoked_at.is_null(False), Credential.created_at.desc())
    )
    return [
        {
            "credential": row,
            "secret": lifecycle.export_secret(row) if row.kind == "export" else None,
            "grace_until": lifecycle.grace_until(row.id),
            "limits_form": limits_forms.get(row.id) or LimitsForm.of(row),
        }
        for row in rows
    ]


def _examples(project: Project, keys: list[dict]) -> dict:
    """curl lines with this server's public URL; only an export key's own secret goes in."""
    export = next(
        (k["secret"] for k in keys if k["secret"] and k["credential"].state == "active"), None
    )
    base = urls.base()  # never the Host header: these lines can hold a live export key
    url = f"{base}/api/v1/projects/{project.slug}/{EXAMPLE_COLLECTION}"
    return {
        "read": f'curl -H "Authorization: Bearer {export or "tke_…"}" {url}',
        "write": (
            'curl -H "Authorization: Bearer $TOKENAPP_FULL_KEY" '
            '-H "Content-Type: application/json" -d \'{"name": "Sales"}\' ' + url
        ),
        "query": f'curl "{url}?key=tke_…"',
        "verify": f'curl -H "Authorization: Bearer {export or "tke_…"}" {base}/api/v1/auth/verify',
    }


def _page(
    membership: Membership,
    *,
    form=None,
    new_secret=None,
    new_key=None,
    limits_forms: dict | None = None,
    status=200,
):
    keys = _keys(membership, limits_forms or {})
    response = render_template(
        "keys/index.html",
        project=membership.project,
        role=membership.role,
        keys=keys,
        form=form or KeyForm(formdata=None),
        regenerate_form=RegenerateKeyForm(formdata=None),
        confirm_form=ConfirmForm(formdata=None),
        examples=_examples(membership.project, keys),
        new_secret=new_secret,
        new_key=new_key,
    )
    return response, status, {"Cache-Control": "no-store"}


@bp.get("/projects/<slug>/keys")
@login_required
def project_keys(slug: str):
    return _page(membership_or_404(slug))


@bp.post("/projects/<slug>/keys")
@login_required
def create_key(slug: str):
    membership = membership_or_404(slug)
    form = KeyForm()
    if not form.validate():
        return _page(membership, form=form, status=422)
    if not once.claim(form.once.data, f"key:{slug}"):
        return once.already_done("web.project_keys", slug=slug)
    credential, secret = lifecycle.issue(
        form.kind.data, current_user, form.label.data, project=membership.project
    )
    if credential.kind == "export":
        flash(f"Export key “{credential.note}” created.", "success")
        return redirect(url_for("web.project_keys", slug=slug), 303)
    return _page(membership, new_secret=secret, new_key=credential, status=201)


@bp.post("/projects/<slug>/keys/<key_id>/regenerate")
@login_required
def regenerate_key(slug: str, key_id: str):
    membership = membership_or_404(slug)
    credential = _live_key(membership, key_id)
    form = RegenerateKeyForm()
    if not form.validate():
        flash("; ".join(form.grace.errors or ["The form expired; try again."]), "error")
        return redirect(url_for("web.project_keys", slug=slug), 303)
    if not once.claim(form.once.data, f"key:{credential.id}"):
        return once.already_done("web.project_keys", slug=slug)
    grace = (form.grace.data or 0) if credential.kind == "full" else 0
    secret = lifecycle.regenerate(credential, grace_days=grace, actor=current_user)
    if credential.kind == "export":
        flash(
            f"Export key “{credential.note}” regenerated; the old secret no longer works.",
            "success",
        )
        return redirect(url_for("web.project_keys", slug=slug), 303)
    return _page(membership, new_secret=secret, new_key=credential)


@bp.post("/projects/<slug>/keys/<key_id>/limits")
@login_required
def set_key_limits(slug: str, key_id: str):
    membership = membership_or_404(slug)
    credential = _live_key(membership, key_id)
    form = LimitsForm()
    if not form.validate():
        return _page(membership, limits_forms={credential.id: form}, status=422)
    lifecycle.update(credential, actor=current_user, **form.limits())
    flash(f"Limits of “{credential.note}” saved.", "success")
    return redirect(url_for("web.project_keys", slug=slug, _anchor=f"limits-{credential.id}"), 303)


@bp.post("/projects/<slug>/keys/<key_id>/revoke")
@login_required
def revoke_key(slug: str, key_id: str):
    membership = membership_or_404(slug)
    credential = _own_key(membership, key_id)
    if not ConfirmForm().validate():
        abort(400)
    lifecycle.revoke(credential, actor=current_user)
    flash(f"Key “{credential.note}” revoked; it no longer works.", "success")
    return redirect(url_for("web.project_keys", slug=slug), 303)
