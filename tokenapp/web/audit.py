"""The audit log pages: everything for admins, a project's events for its owners.

Read only: the app has no path that updates or deletes an audit event.
"""

import datetime
import json

from flask import Response
from flask import abort
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import audit
from .. import projects
from ..models import AuditEvent
from ..models import Project
from ..query import on_page
from ..query import query_day
from ..query import query_int
from ..query import query_text
from . import bp
from .projects import membership_or_404

PER_PAGE = 50
EXPORT_MAX = 100_000  # per download; `tokenapp audit export` has no limit
MAX_PAGE = 100_000  # 5 million events back; further back is `tokenapp audit export`
TEXT_FILTERS = ("action", "actor", "project")
LABELS = {
    "action": "Action",
    "actor": "Actor",
    "project": "Project",
    "since": "From",
    "until": "To",
}


@bp.get("/audit")
@login_required
def audit_log():
    if not current_user.is_admin:
        abort(403)
    return _page(project=None)


@bp.get("/projects/<slug>/audit")
@login_required
def project_audit_log(slug: str):
    return _page(project=_readable_project(slug))


@bp.get("/audit/export.jsonl")
@login_required
def export_audit_log():
    if not current_user.is_admin:
        abort(403)
    return _export(project=None)


@bp.get("/projects/<slug>/audit/export.jsonl")
@login_required
def export_project_audit_log(slug: str):
    return _export(project=_readable_project(slug))


def _readable_project(slug: str) -> Project:
    """The project whose log the user may read: any for an admin, their own as owner."""
    if current_user.is_admin:
        return projects.find(slug) or abort(404)
    return membership_or_404(slug, owner=True).project


def _export(project: Project | None):
    """The events the page's filters select, oldest first, as JSON lines (a download)."""
    query, _, _, errors = _filtered(project)
    if errors:
        abort(400, " ".join(errors))
    events = query.order_by(AuditEvent.at, AuditEvent.id).limit(EXPORT_MAX)
    body = "".join(json.dumps(audit.as_dict(e), separators=(",", ":")) + "\n" for e in events)
    name = f"tokenapp-audit{'-' + project.slug if project else ''}.jsonl"
    return Response(
        body,
        mimetype="application/jsonl",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _filtered(project: Project | None):
    """The events the query string's filters select, newest first, with the filters."""
    errors = []
    filters = {name: on_page(errors, LABELS[name], query_text, name) or "" for name in TEXT_FILTERS}
    if project is not None:
        filters["project"] = project.slug
    since = on_page(errors, LABELS["since"], query_day, "since")
    until = on_page(errors, LABELS["until"], query_day, "until")
    for name, day in (("since", since), ("until", until)):
        # A day refused stays in its box, to be corrected.
        filters[name] = str(day) if day else request.args.get(name, "").strip()[:100]
    query = audit.search(
        action=filters["action"] or None,
        actor=filters["actor"] or None,
        project=filters["project"] or None,
        since=_start(since),
        until=_start(until + datetime.timedelta(days=1)) if until else None,
    )
    shown = {name: value for name, value in filters.items() if value}
    if project is not None:
        shown.pop("project", None)
    return query, filters, shown, errors


def _page(project: Project | None):
    query, filters, shown, errors = _filtered(project)
    # An unreadable page number is the first page; one past any real page, the last we serve.
    page = query_int("page", 1, 1, MAX_PAGE, clamp=True)
    rows = list(query.offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1))
    download = (
        url_for("web.export_project_audit_log", slug=project.slug, **shown)
        if project
        else url_for("web.export_audit_log", **shown)
    )
    return (
        render_template(
            "audit/list.html",
            project=project,
            events=rows[:PER_PAGE],
            filters=filters,
            shown=shown,
            actions=audit.actions(),
            page=page,
            newer=_page_url(page - 1, shown) if page > 1 else None,
            older=_page_url(page + 1, shown) if len(rows) > PER_PAGE else None,
            errors=errors,
            clear=url_for(request.endpoint, **request.view_args),
            download=download,
        ),
        400 if errors else 200,
    )


def _page_url(page: int, filters: dict) -> str:
    return url_for(request.endpoint, **request.view_args, **filters, page=page)


def _start(day: datetime.date | None) -> datetime.datetime | None:
    return None if day is None else datetime.datetime.combine(day, datetime.time())
