"""The audit log pages: everything for admins, a project's events for its owners.

Read only: the app has no path that updates or deletes an audit event.
"""

import datetime

from flask import abort
from flask import render_template
from flask import request
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import audit
from ..models import Project
from ..query import on_page
from ..query import query_day
from ..query import query_int
from ..query import query_text
from . import bp
from .projects import membership_or_404

PER_PAGE = 50
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
    if current_user.is_admin:
        project = Project.get_or_none(Project.slug == slug) or abort(404)
    else:
        membership = membership_or_404(slug)
        if membership.role != "owner":
            abort(403)
        project = membership.project
    return _page(project=project)


def _page(project: Project | None):
    errors = []
    filters = {name: on_page(errors, LABELS[name], query_text, name) or "" for name in TEXT_FILTERS}
    if project is not None:
        filters["project"] = project.slug
    since = on_page(errors, LABELS["since"], query_day, "since")
    until = on_page(errors, LABELS["until"], query_day, "until")
    for name, day in (("since", since), ("until", until)):
        # A day refused stays in its box, to be corrected.
        filters[name] = str(day) if day else request.args.get(name, "").strip()[:100]
    # An unreadable page number is the first page; one past any real page, the last we serve.
    page = query_int("page", 1, 1, MAX_PAGE, clamp=True)
    query = audit.search(
        action=filters["action"] or None,
        actor=filters["actor"] or None,
        project=filters["project"] or None,
        since=_start(since),
        until=_start(until + datetime.timedelta(days=1)) if until else None,
    )
    rows = list(query.offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1))
    shown = {name: value for name, value in filters.items() if value}
    if project is not None:
        shown.pop("project", None)
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
        ),
        400 if errors else 200,
    )


def _page_url(page: int, filters: dict) -> str:
    return url_for(request.endpoint, **request.view_args, **filters, page=page)


def _start(day: datetime.date | None) -> datetime.datetime | None:
    return None if day is None else datetime.datetime.combine(day, datetime.time())
