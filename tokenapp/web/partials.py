"""What templates need: the expiry banner's tokens, the usage chart, public URLs, audit names."""

import uuid

from flask_login import current_user
from markupsafe import Markup
from peewee import JOIN

from .. import charts
from .. import notices
from .. import public_revoke
from .. import urls
from .. import usage
from ..models import Credential
from ..models import Project
from ..models import User
from . import bp


@bp.app_template_global()
def expiring_tokens() -> list[Credential]:
    """The signed-in user's tokens that expire within 7 days (for the banner)."""
    if not current_user.is_authenticated:
        return []
    return notices.expiring(current_user.id)


@bp.app_template_global()
def credentials_named(events) -> dict[str, Credential]:
    """The credentials an audit page's events target, by id, in one query (labels, links)."""
    ids = []
    for event in events:
        try:
            ids.append(uuid.UUID(event.target or ""))
        except ValueError:
            continue
    if not ids:
        return {}
    rows = Credential.select(Credential, Project).join(Project, JOIN.LEFT_OUTER)
    return {str(row.id): row for row in rows.where(Credential.id.in_(ids))}


@bp.app_template_global()
def service_accounts_named(events) -> set[str]:
    """Which of an audit page's actor and target names are service accounts, in one query."""
    names = {name for e in events for name in (e.actor_name, e.target) if name}
    if not names:
        return set()
    # As User.is_service_account says: its project, not the "@" in its name.
    rows = User.select(User.username).where(
        User.username.in_(names) & User.service_project.is_null(False)
    )
    return {row.username for row in rows}


@bp.app_template_filter()
def in_words(detail) -> str:
    """An audit event's detail as a person reads it: "kind: full · scopes: a, b · admin: yes"."""
    if not isinstance(detail, dict):
        return "" if detail is None else str(detail)
    parts = []
    for name, value in detail.items():
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "none"
        elif value is None:
            value = "none"
        parts.append(f"{name.replace('_', ' ')}: {value}")
    return " · ".join(parts)


@bp.app_template_global()
def revoked_notices() -> list:
    """The signed-in user's credentials a public report stopped in the last 30 days."""
    if not current_user.is_authenticated:
        return []
    return public_revoke.pending_notices(current_user.id)


@bp.app_template_global()
def usage_report(credential: Credential) -> dict:
    return usage.report(credential.id)


@bp.app_template_global()
def usage_chart(report: dict, title: str = "Requests per hour, last 7 days") -> Markup:
    return charts.hourly_chart(report["hours"], title)


@bp.app_template_global()
def public_url(path: str) -> str:
    """An absolute URL for the pages to show (curl lines); see urls.py."""
    return urls.absolute(path)


@bp.app_template_global()
def public_url_unknown() -> bool:
    return urls.is_placeholder()
