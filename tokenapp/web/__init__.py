"""The pages: setup, sign-in, account, admin, projects, members, keys, tokens.

flask-login serves these pages only; the API never reads the session.
"""

from flask import Blueprint
from flask import Flask
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("web", __name__)
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    csrf.init_app(app)


from . import account  # noqa: E402,F401  (routes register on bp)
from . import admin  # noqa: E402,F401
from . import audit  # noqa: E402,F401
from . import inventory  # noqa: E402,F401
from . import keys  # noqa: E402,F401
from . import members  # noqa: E402,F401
from . import partials  # noqa: E402,F401
from . import passkeys  # noqa: E402,F401
from . import policy  # noqa: E402,F401
from . import projects  # noqa: E402,F401
from . import security  # noqa: E402,F401
from . import session  # noqa: E402,F401
from . import sessions_page  # noqa: E402,F401
from . import setup  # noqa: E402,F401
from . import sso  # noqa: E402,F401
from . import sudo  # noqa: E402,F401
from . import tokens  # noqa: E402,F401
