"""gunicorn, run from `tokenapp serve`, with an access log that never holds a secret."""

import contextvars
import logging
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl
from urllib.parse import unquote
from urllib.parse import urlencode

from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from . import metrics
from .config import SERVE_THREADS
from .credentials import PATTERN
from .db import database

# Anything secret-shaped, also with the underscore percent-encoded and in any case:
# redaction errs towards hiding more.
LOOSE_SECRET = re.compile(r"tk[pef](?:_|%5f)[0-9a-z]{8,}", re.IGNORECASE)
# A `key` parameter in free text (gunicorn quotes the request line in its errors).
KEY_VALUE = re.compile(r"(?:^|(?<=[?&;]))(key(?:=|%3d))[^&;\s'\"#]*", re.IGNORECASE)
# Text with none of these holds nothing to redact (most log lines: one search, no copy).
SUSPECT = re.compile(r"tk[pef]|key|%", re.IGNORECASE)
# Header and environ atoms that carry credentials whatever their shape.
CREDENTIAL_FIELDS = frozenset(
    ["authorization", "proxy-authorization", "cookie", "set-cookie"]
    + ["http_authorization", "http_proxy_authorization", "http_cookie"]
)
CONTROL = {code: f"\\x{code:02x}" for code in [*range(32), 127]}
REDACTED = "[REDACTED]"
_TRACEBACKS = logging.Formatter()


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


def redact_text(text: object) -> str:
    """Free text with secrets and `key=` values replaced; never raises on odd input."""
    text = text if isinstance(text, str) else _text(text)
    if not SUSPECT.search(text):
        return text
    if "%" in text:
        decoded = unquote(text)
        # What the server decodes is what works: a secret hidden by percent-encoding
        # shows decoded and redacted.
        if LOOSE_SECRET.search(decoded):
            text = decoded
    return KEY_VALUE.sub(_redacted_value, LOOSE_SECRET.sub(REDACTED, text))


def _redacted_value(match: re.Match) -> str:
    return match.group(1) + REDACTED


def redact_url(url: str) -> str:
    base, sep, query = url.partition("?")
    return redact_text(base) + (sep + redact_text(redact_query(query)) if sep else "")


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bytes):
        return value.decode("latin-1")
    try:
        return str(value)
    except Exception:  # an object whose __str__ fails is still loggable
        return f"<{type(value).__name__}>"


def _atom(name: str, value: object) -> object:
    """One access-log atom, redacted and with control characters escaped."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if name == "u":
        # tokenapp takes no HTTP Basic credentials: a Basic user is only ever a
        # secret sent in the wrong slot (curl -u "$PAT:"), never someone to log.
        return "-"
    if name.startswith("{") and name[1:-2].lower() in CREDENTIAL_FIELDS:
        return REDACTED
    text = _text(value)
    if name == "q":
        text = redact_text(redact_query(text))
    elif name == "r" or name.startswith("{") or name in ("U", "f", "a"):
        text = " ".join(redact_url(part) for part in text.split(" "))
    else:
        text = redact_text(text)
    return text.translate(CONTROL)


def _safe_atom(name: object, value: object) -> object:
    try:
        return _atom(_text(name), value)
    except Exception:
        return "-"


class RedactedAtoms(dict):
    """The raw atoms, each redacted when the format reads it (a line uses ~10 of ~40).

    Like gunicorn's SafeAtoms: `{header}` names in any case, '-' when missing,
    double quotes escaped.
    """

    def __getitem__(self, name: str) -> object:
        if name.startswith("{"):
            name = name.lower()
        if not dict.__contains__(self, name):
            return "-"
        value = _safe_atom(name, dict.__getitem__(self, name))
        return value.replace('"', '\\"') if isinstance(value, str) else value


class Logger(glogging.Logger):
    """gunicorn's logger, total: any atom may be missing, None or odd; it never raises.

    An exception out of access() would end the worker (gunicorn logs the rejected
    request from its error handler, where nothing catches it).
    """

    def atoms(self, resp, req, environ, request_time):
        raw = self._raw_atoms(resp, req, environ, request_time)
        return {name: _safe_atom(name, value) for name, value in raw.items()}

    def _raw_atoms(self, resp, req, environ, request_time) -> dict:
        try:
            return super().atoms(resp, req, environ, request_time)
        except Exception:
            atoms = {"h": _get(environ, "REMOTE_ADDR"), "s": getattr(resp, "status", "-")}
            atoms["r"] = " ".join(
                _text(_get(environ, k)) for k in ("REQUEST_METHOD", "RAW_URI", "SERVER_PROTOCOL")
            )
            return atoms

    def access(self, resp, req, environ, request_time):
        try:
            if self.access_log_enabled:
                atoms = RedactedAtoms(self._raw_atoms(resp, req, environ, request_time))
                self.access_log.info(self.cfg.access_log_format, atoms)
        except Exception as exc:
            try:
                self.error("access log line dropped: %s", type(exc).__name__)
            except Exception:  # noqa: S110 (a logger that cannot log must still not raise)
                pass


def _get(environ: object, name: str) -> object:
    try:
        return environ.get(name, "-")
    except Exception:
        return "-"


def redact_every_record() -> Callable[..., logging.LogRecord]:
    """Redact every log record of this process when it is made; returns the factory it wraps.

    Covers gunicorn's error log (which quotes request lines and header values it
    refuses), the application's loggers and tracebacks, whatever handler prints them.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacting", False):
        return previous

    def make(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            _redact_record(record)
        except Exception:
            record.msg, record.args = "(a log record that could not be redacted)", ()
            record.exc_info = record.exc_text = record.stack_info = None
        return record

    make.redacting = True
    logging.setLogRecordFactory(make)
    return previous


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:
        # logging would print the arguments to stderr as they are: drop them here.
        message = f"{_text(record.msg)} (arguments not shown: they do not fit the format)"
    record.msg, record.args = redact_text(message), ()
    if record.exc_info:
        record.exc_text = redact_text(_TRACEBACKS.formatException(record.exc_info))
        record.exc_info = None  # a formatter must print the redacted text, not re-render
    elif record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)


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


def serve(
    app: Flask, *, bind: str, workers: int, certfile=None, keyfile=None, threads=SERVE_THREADS
) -> None:
    # No pooled connection may cross the fork into the workers.
    database.close_all()
    redact_every_record()
    metrics.multiprocess(Path(app.instance_path) / "metrics")
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
