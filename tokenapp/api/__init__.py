"""The JSON API: every route authenticated once, here, before it runs."""

from flask import Blueprint
from flask import g
from flask import request

from .. import limits
from .. import usage
from ..access import admit
from ..auth import authenticate
from ..models import User

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Routes a client reads without a credential.
PUBLIC = {"api.openapi", "api.docs", "api.public_revoke_report"}


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC:
        return
    g.principal = authenticate(request)  # 401s
    admit(g.principal, request.remote_addr)  # the allowlist's 403; routes declare the rest
    limits.enforce(g.principal)
    usage.touch(g.principal)


def acting_user() -> User:
    """The user the request's credential acts for: the actor the audit log names."""
    return User.get_by_id(g.principal.user_id)


@bp.after_request
def _finish(response):
    usage.flush_if_due()
    return limits.add_headers(response)


from . import auth  # noqa: E402,F401  (routes register on bp)
from . import documents  # noqa: E402,F401
from . import keys  # noqa: E402,F401
from . import openapi  # noqa: E402,F401
from . import projects  # noqa: E402,F401
from . import revoke  # noqa: E402,F401
from . import tokens  # noqa: E402,F401
