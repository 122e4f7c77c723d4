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
from ..access.keys import acts_for
from ..access.keys import member_named
from ..access.keys import visible_keys
from ..models import Credential
from ..models import Membership
from ..models import Project
from ..models import User
from . import bp
from . import once
from .changes import save_limits
from .listing import Listing
from .projects import membership_or_404
from .token_forms import ConfirmForm
from .token_forms import KeyForm
from .token_forms import LimitsForm
from .token_forms import RegenerateKeyForm
from .token_forms import rotation

EXAMPLE_COLLECTION = "dashboards"


def _key(membership: Membership, key_id: str) -> Credential:
    """A key of the project the member may see: their own, or any for an owner; else 404."""
    try:
        key = uuid.UUID(key_id)
    except ValueError:
        abort(404)
    seen = visible_keys(membership.project.id, membership.role, current_user.id)
    credential = seen.where(Credential.id == key).first()
    if credential is None:
        abort(404)
    return credential


def _manages(membership: Membership, holder: User) -> bool:
    return acts_for(membership.role, current_user.id, holder, membership.project.id)


def _own_live_key(membership: Membership, key_id: str) -> Credential:
    """The user's own key (or, for an owner, a service account's), for a change. A key acts
    as its member, so only they regenerate it or set its limits (an owner may revoke it:
    403); 409 once it cannot change (lifecycle's rule)."""
    credential = _key(membership, key_id)
    if not _manages(membership, credential.user):
        abort(403)
    return lifecycle.still_changes(credential)


def _rows(membership: Membership, query) -> list[dict]:
    return [
        {
            "credential": row,
            "secret": (
                lifecycle.export_secret(row)
                if row.kind == "export" and _manages(membership, row.user)
                else None
            ),
            "grace_until": lifecycle.grace_until(row.id),
        }
        for row in query
    ]


KEY_SORTS = {
    "member": (User.username, Credential.created_at.desc()),
    "created": (Credential.created_at.desc(),),
    "last_used": (Credential.last_used.desc(nulls="last"), Credential.created_at.desc()),
    "label": (Credential.note, Credential.created_at.desc()),
}
KEY_SORT_LABELS = {
    "member": "member",
    "created": "newest first",
    "last_used": "recently used",
    "label": "label",
}


def _keys(membership: Membership, listing: Listing):
    """The member's own live keys, for an owner a page of every other member's, the revoked.

    Searched by label (and member) and sorted as the listing says; returns the rows
    and whether another page of other members' keys follows.
    """
    seen = visible_keys(membership.project.id, membership.role, current_user.id)
    query = listing.search(seen.select_extend(User).join(User), Credential.note, User.username)
    order = KEY_SORTS[listing.sort]
    live = query.where(Credential.revoked_at.is_null())
    own = live.where(Credential.user == current_user.id).order_by(*order)
    others, more = listing.page_of(live.where(Credential.user != current_user.id), KEY_SORTS)
    revoked = query.where(Credential.revoked_at.is_null(False)).order_by(
        Credential.revoked_at.desc()
    )
    rows = (_rows(membership, part) for part in (own, others, revoked.limit(100)))
    return *rows, more


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


def _page(membership: Membership, *, form=None, status=200):
    listing = Listing.from_request(KEY_SORTS, per_page=50)
    keys, others, revoked, more = _keys(membership, listing)
    response = render_template(
        "keys/index.html",
        project=membership.project,
        role=membership.role,
        keys=keys,
        others=others,
        revoked=revoked,
        listing=listing,
        more=more,
        sorts=KEY_SORT_LABELS,
        form=form or KeyForm(formdata=None),
        service_accounts=_service_accounts(membership),
        confirm_form=ConfirmForm(formdata=None),
        examples=_examples(membership.project, keys),
    )
    return response, status


def _detail(
    membership: Membership, credential: Credential, *, new_secret=None, limits_form=None, status=200
):
    response = render_template(
        "keys/detail.html",
        project=membership.project,
        key=credential,
        own=credential.user_id == current_user.id,
        manage=_manages(membership, credential.user),
        grace_until=lifecycle.grace_until(credential.id),
        limits_form=limits_form or LimitsForm.of(credential),
        regenerate_form=RegenerateKeyForm(formdata=None),
        confirm_form=ConfirmForm(formdata=None),
        new_secret=new_secret,
    )
    return response, status


def _service_accounts(membership: Membership) -> list[User]:
    """The service accounts whose keys this member may create: an owner's project's."""
    if membership.role != "owner":
        return []
    return list(
        User.select()
        .join(Membership)
        .where((Membership.project == membership.project.id) & User.service_project.is_null(False))
        .order_by(User.username)
    )


def _holder(membership: Membership, username: str | None) -> User:
    """Whom a new key acts as: the user, or a service account an owner names (else 403)."""
    if not username:
        return current_user._get_current_object()
    holder = member_named(membership.project.id, username)
    if holder is None or not _manages(membership, holder):
        abort(403)
    return holder


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
    holder = _holder(membership, form.acts_as.data)
    if replay := once.replayed(form, f"key:{slug}", "web.project_keys", slug=slug):
        return replay
    credential, secret = lifecycle.issue(
        form.kind.data,
        holder,
        form.label.data,
        project=membership.project,
        actor=current_user._get_current_object(),
    )
    if credential.kind == "export":
        flash(f"Export key “{credential.note}” created.", "success")
        return redirect(url_for("web.project_keys", slug=slug), 303)
    return _detail(membership, credential, new_secret=secret, status=201)


@bp.get("/projects/<slug>/keys/<key_id>")
@login_required
def key_detail(slug: str, key_id: str):
    membership = membership_or_404(slug)
    return _detail(membership, _key(membership, key_id))


@bp.post("/projects/<slug>/keys/<key_id>/regenerate")
@login_required
def regenerate_key(slug: str, key_id: str):
    membership = membership_or_404(slug)
    credential = _own_live_key(membership, key_id)
    form = RegenerateKeyForm()
    here = url_for("web.key_detail", slug=slug, key_id=credential.id)
    if not form.validate():
        flash("; ".join(form.grace.errors or ["The form expired; try again."]), "error")
        return redirect(f"{here}#regenerate", 303)
    if replay := once.replayed(
        form, f"key:{credential.id}", "web.key_detail", slug=slug, key_id=credential.id
    ):
        return replay
    grace = rotation(form) if credential.kind == "full" else {}
    secret = lifecycle.regenerate(credential, **grace, actor=current_user)
    if credential.kind == "export":
        flash(
            f"Export key “{credential.note}” regenerated; the old secret no longer works.",
            "success",
        )
        return redirect(url_for("web.project_keys", slug=slug), 303)
    return _detail(membership, credential, new_secret=secret)


@bp.post("/projects/<slug>/keys/<key_id>/limits")
@login_required
def set_key_limits(slug: str, key_id: str):
    membership = membership_or_404(slug)
    credential = _own_live_key(membership, key_id)
    return save_limits(
        credential,
        lambda form: _detail(membership, credential, limits_form=form, status=422),
        url_for("web.key_detail", slug=slug, key_id=credential.id, _anchor="limits"),
    )


@bp.post("/projects/<slug>/keys/<key_id>/revoke")
@login_required
def revoke_key(slug: str, key_id: str):
    membership = membership_or_404(slug)
    credential = _key(membership, key_id)  # their own, or any key for an owner
    if not ConfirmForm().validate():
        abort(400)
    lifecycle.revoke(credential, actor=current_user._get_current_object())
    whose = "" if credential.user_id == current_user.id else f" of {credential.user.username}"
    flash(f"Key “{credential.note}”{whose} revoked; it no longer works.", "success")
    return redirect(url_for("web.project_keys", slug=slug), 303)
