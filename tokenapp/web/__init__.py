"""The pages: sign-in, account, tokens, projects, keys, members, admin."""

from flask import Blueprint
from flask import Flask
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("web", __name__)
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    from .. import api

    csrf.init_app(app)
    # The API never reads the session cookie, so a cross-site request has nothing to borrow.
    csrf.exempt(api.bp)


from . import pages  # noqa: E402,F401
