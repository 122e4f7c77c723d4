"""What templates need: the expiry banner's tokens, the usage chart, public URLs."""

from flask_login import current_user
from markupsafe import Markup

from .. import charts
from .. import notices
from .. import urls
from .. import usage
from ..models import Credential
from . import bp


@bp.app_template_global()
def expiring_tokens() -> list[Credential]:
    """The signed-in user's tokens that expire within 7 days (for the banner)."""
    if not current_user.is_authenticated:
        return []
    return notices.expiring(current_user.id)


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
