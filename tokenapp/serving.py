"""gunicorn, run from `tokenapp serve`, with an access log that never holds a secret."""

import contextvars
import re
from urllib.parse import parse_qsl
from urllib.parse import urlencode

from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from .credentials import PATTERN
from .db import database

LOOSE_SECRET = re.compile(r"tk[pef]_[0-9A-Za-z]{8,}")
REDACTED = "[REDACTED]"


def redact_query(query: str) -> str:
    """The query string with `key` values and anything secret-shaped replaced."""
    if not query:
        return query
    pairs = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "key" or PATTERN.search(value) or LOOSE_SECRET.search(value):
            value = REDACTED
        pairs.append((LOOSE_SECRET.sub(REDACTED, name), value))
    return urlencode(pairs, safe="[]")


def redact_text(text: str) -> str:
    return LOOSE_SECRET.sub(REDACTED, text)


class Logger(glogging.Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["q"] = redact_query(atoms["q"])
        atoms["U"] = redact_text(atoms["U"])
        atoms["r"] = (
            redact_text(atoms["r"].split(" ")[0])
            + " "
            + " ".join(redact_url(part) for part in atoms["r"].split(" ")[1:])
        )
        atoms["f"] = redact_url(atoms["f"])
        return atoms


def redact_url(url: str) -> str:
    base, sep, query = url.partition("?")
    return redact_text(base) + (sep + redact_query(query) if sep else "")


class Server(BaseApplication):
    def __init__(self, app: Flask, options: dict):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for name, value in self.options.items():
            if value is not None:
                self.cfg.set(name, value)

    def load(self):
        return self.application


def serve(app: Flask, *, bind: str, workers: int, certfile=None, keyfile=None, threads=1) -> None:
    # No pooled connection may cross the fork into the workers.
    database.close_all()
    server = Server(
        app,
        {
            "bind": bind,
            "workers": workers,
            "threads": threads,
            "preload_app": True,
            "accesslog": "-",
            "logger_class": "tokenapp.serving.Logger",
            "certfile": certfile,
            "keyfile": keyfile,
            # tokenapp decides which proxies to believe (TOKENAPP_TRUSTED_PROXIES), not gunicorn.
            "forwarded_allow_ips": "",
            "timeout": 60,
            "graceful_timeout": 10,
            # gunicorn 27's control socket is one per user: servers would steal each other's.
            "control_socket_disable": True,
        },
    )
    # `tokenapp serve` runs inside the CLI's app context. Forked sync workers would
    # inherit it, and Flask reuses an active app context for every request instead of
    # pushing one per request: one `g` for all requests of a worker (flask-login's
    # cached user, Flask-WTF's CSRF token). gunicorn runs in an empty context instead.
    contextvars.Context().run(server.run)
