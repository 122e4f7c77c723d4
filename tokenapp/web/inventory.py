"""Admin: every project (appoint an owner), every credential (GitLab's inventory), the policy.

The inventory filters by user, project, kind, state, expiring within N days
and unused for N days; sorts; pages; revokes in bulk; exports CSV and JSONL.
"""

import csv
import io
import json
import uuid

from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from peewee import JOIN
from peewee import fn

from .. import accounts
from .. import inventory
from .. import lifecycle
from .. import policy
from .. import projects
from ..fields import SLUG
from ..fields import USERNAME
from ..models import Credential
from ..models import Membership
from ..models import Project
from ..models import User
from ..query import on_page
from ..query import query_choice
from ..query import query_int
from . import bp
from .admin import admin_required
from .forms import ActionForm
from .forms import AppointOwnerForm
from .forms import PolicyForm

PER_PAGE = 50
MAX_PAGE = 100_000


def _days(name: str, label: str, errors: list[str]) -> int | None:
    return on_page(errors, label, query_int, name, None, 1, inventory.MAX_DAYS)


def _choice(name: str, allowed, label: str, errors: list[str]) -> str:
    return on_page(errors, label, query_choice, name, allowed) or ""


def _filters() -> tuple[inventory.Filters, list[str]]:
    errors: list[str] = []
    filters = inventory.Filters(
        user=request.args.get("user", "").strip()[: USERNAME.high],
        project=request.args.get("project", "").strip()[: SLUG.high],
        kind=_choice("kind", inventory.KINDS, "Kind", errors),
        state=_choice("state", inventory.STATES, "State", errors),
        expiring_within=_days("expiring_within", "Expiring within", errors),
        unused_for=_days("unused_for", "Unused for", errors),
        sort=_choice("sort", list(inventory.SORTS), "Sort", errors) or "created",
    )
    return filters, errors


def _shown(filters: inventory.Filters) -> dict:
    """The filters as query arguments, for links that keep them."""
    values = {
        "user": filters.user,
        "project": filters.project,
        "kind": filters.kind,
        "state": filters.state,
        "expiring_within": filters.expiring_within,
        "unused_for": filters.unused_for,
        "sort": filters.sort if filters.sort != "created" else None,
    }
    return {name: value for name, value in values.items() if value}


def _page_number() -> int:
    return query_int("page", 1, 1, MAX_PAGE, clamp=True)


@bp.get("/admin/credentials")
@admin_required
def admin_credentials():
    filters, errors = _filters()
    page = _page_number()
    query = inventory.search(filters)
    total = query.count()
    rows = list(query.offset((page - 1) * PER_PAGE).limit(PER_PAGE))
    shown = _shown(filters)
    return (
        render_template(
            "admin/credentials.html",
            rows=rows,
            total=total,
            page=page,
            pages=max(1, -(-total // PER_PAGE)),
            filters=filters,
            shown=shown,
            errors=errors,
            kinds=inventory.KINDS,
            states=inventory.STATES,
            sorts=list(inventory.SORTS),
            action=ActionForm(formdata=None),
            newer=url_for("web.admin_credentials", **shown, page=page - 1) if page > 1 else None,
            older=(
                url_for("web.admin_credentials", **shown, page=page + 1)
                if page * PER_PAGE < total
                else None
            ),
        ),
        400 if errors else 200,
    )


@bp.get("/admin/credentials/export.<fmt>")
@admin_required
def export_credentials(fmt: str):
    if fmt not in ("csv", "jsonl"):
        abort(404)
    filters, errors = _filters()
    if errors:
        abort(400)
    rows = (inventory.as_dict(row) for row in inventory.search(filters).iterator())
    if fmt == "jsonl":
        body = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
        mimetype = "application/jsonl"
    else:
        out = io.StringIO()
        writer = None
        for row in rows:
            row = {**row, "scopes": " ".join(row["scopes"] or [])}
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row))
                writer.writeheader()
            writer.writerow({name: _csv_safe(value) for name, value in row.items()})
        body, mimetype = out.getvalue(), "text/csv"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="tokenapp-credentials.{fmt}"'},
    )


def _csv_safe(value):
    # A note is free text: a leading = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.post("/admin/credentials/revoke")
@admin_required
def bulk_revoke():
    if not ActionForm().validate_on_submit():
        abort(400)
    ids = []
    for value in request.form.getlist("id")[:1000]:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            abort(400)
    actor = current_user._get_current_object()
    chosen = Credential.select().where(Credential.id.in_(ids) & lifecycle.CHANGEABLE)
    revoked = 0
    for credential in chosen:
        lifecycle.revoke(credential, actor=actor)
        revoked += 1
    if ids:
        flash(f"Revoked {revoked} credential(s); they stop working at once.", "success")
    else:
        flash("Select the credentials to revoke first.", "error")
    back = {name: value for name, value in request.form.items() if name.startswith("f_")}
    return redirect(
        url_for("web.admin_credentials", **{k[2:]: v for k, v in back.items() if v}), 303
    )


@bp.get("/admin/projects")
@admin_required
def admin_projects():
    return _projects_page()


def _projects_page(form=None, failed_slug=None, status=200):
    members = fn.COUNT(Membership.id)
    rows = (
        Project.select(Project, members.alias("member_count"))
        .join(Membership, JOIN.LEFT_OUTER, on=(Membership.project == Project.id))
        .group_by(Project.id)
        .order_by(Project.slug)
    )
    owners: dict[int, list[str]] = {}
    for project_id, username in (
        Membership.select(Membership.project, User.username)
        .join(User)
        .where(Membership.role == "owner")
        .order_by(User.username)
        .tuples()
    ):
        owners.setdefault(project_id, []).append(username)
    return (
        render_template(
            "admin/projects.html",
            projects=rows,
            owners=owners,
            form=form or AppointOwnerForm(formdata=None),
            failed_slug=failed_slug,
        ),
        status,
    )


@bp.post("/admin/projects/<slug>/owner")
@admin_required
def appoint_owner(slug: str):
    project = projects.find(slug) or abort(404)
    form = AppointOwnerForm()
    if not form.validate_on_submit():
        return _projects_page(form, slug, 422)
    user = accounts.find_user(form.username.data)
    if user is None:
        form.username.errors = [f"No user {form.username.data.strip()!r}."]
        return _projects_page(form, slug, 422)
    actor = current_user._get_current_object()
    try:
        membership = projects.membership_of(project, user.username)
        if membership is None:
            projects.add_member(project, user, "owner", actor=actor)
        elif membership.role != "owner":
            projects.change_role(membership, "owner", actor=actor)
    except projects.ProjectError as exc:  # e.g. added by someone else a moment ago
        form.username.errors = [str(exc)]
        return _projects_page(form, slug, 409)
    flash(f"{user.username} is an owner of {project.slug}.", "success")
    return redirect(url_for("web.admin_projects"), 303)


@bp.route("/admin/policy", methods=["GET", "POST"])
@admin_required
def admin_policy():
    current = policy.current()
    if request.method == "POST" and current.fixed:
        abort(409)
    if request.method == "POST":
        form = PolicyForm()
    else:
        form = PolicyForm(
            formdata=None,
            data={"max_days": current.max_days or "", "expiry_required": current.expiry_required},
        )
    if request.method == "POST":
        if form.validate_on_submit():
            days = int(form.max_days.data) if form.max_days.data else None
            policy.save(days, form.expiry_required.data, actor=current_user._get_current_object())
            flash("Token policy saved. It applies to new and regenerated tokens.", "success")
            return redirect(url_for("web.admin_policy"), 303)
    status = 422 if form.errors else 200
    return render_template("admin/policy.html", form=form, policy=current), status
