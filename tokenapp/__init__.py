"""tokenapp: self-hosted API keys and personal access tokens."""

import logging
from pathlib import Path

from flask import Flask

from . import accounts
from . import authcache
from . import config
from . import db
from . import errors
from . import hotpath
from . import metrics
from . import scopes
from . import sso
from . import transport

PACKAGE = Path(__file__).parent


def _asset_folder(name: str) -> str:
    # Installed from a wheel the folders sit inside the package; in a source
    # tree they sit beside it (setup.cfg maps one onto the other).
    inside = PACKAGE / name
    return str(inside if inside.is_dir() else PACKAGE.parent / name)


class App(Flask):
    """Flask, asking once per function whether it is a coroutine.

    Flask wraps every hook, view and handler in ensure_sync on every request, and
    inspect.iscoroutinefunction costs ~0.5 µs each: 14 per API request (bench/profile.md).
    """

    def ensure_sync(self, func):
        synced = self._synced.get(func)
        if synced is None:
            synced = self._synced[func] = super().ensure_sync(func)
        return synced

    def __init__(self, *args, **kwargs):
        self._synced: dict = {}
        super().__init__(*args, **kwargs)


def create_app(overrides: dict | None = None) -> Flask:
    app = App(
        __name__,
        instance_path=config.instance_path(),
        template_folder=_asset_folder("templates"),
        static_folder=_asset_folder("static"),
    )
    config.load(app, overrides)
    _load_scopes(app)
    _load_forward_rules(app)
    db.init_app(app)
    authcache.init_app(app)
    accounts.init_app(app)
    sso.init_app(app)
    hotpath.init_app(app)  # inside TrustedProxies: sees the proxy's view of the client
    transport.init_app(app)
    _register_blueprints(app)
    metrics.init_app(app)
    errors.init_app(app)
    _register_commands(app)
    logging.getLogger("tokenapp").setLevel(logging.INFO)
    return app


def _load_scopes(app: Flask) -> None:
    try:
        catalogue = scopes.load(app.config["SCOPES_FILE"])
    except scopes.CatalogueError as exc:
        raise config.ImproperlyConfigured(
            f"{exc}. Fix the file or unset TOKENAPP_SCOPES_FILE."
        ) from None
    app.extensions["tokenapp.scopes"] = catalogue


def _load_forward_rules(app: Flask) -> None:
    from . import forward

    try:
        forward.init_app(app)
    except forward.RulesError as exc:
        raise config.ImproperlyConfigured(
            f"{exc}. Fix the file or unset TOKENAPP_FORWARD_RULES."
        ) from None


def _register_blueprints(app: Flask) -> None:
    from . import api
    from . import health
    from . import web

    web.init_app(app)
    # The API never reads the session cookie, so a cross-site request has nothing to borrow.
    web.csrf.exempt(api.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(web.bp)
    app.add_url_rule("/healthz", "healthz", health.healthz)


def _register_commands(app: Flask) -> None:
    from . import cli

    cli.init_app(app)
