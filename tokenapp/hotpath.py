"""The fast path: `verify`, `check` and a document read answered in front of Flask.

nginx `auth_request` sends every request of an intranet service through
`/api/v1/auth/check`, scripts start with `verify`, and most data calls are reads.
For the usual shape of request (GET over HTTPS or from loopback, a Bearer/Loco
header, a plain query) this WSGI layer calls the functions the Flask path calls,
in the same order (auth.principal_for, access.admit, limits.enforce,
usage.touch, then api.auth.verify_body, decide_check or access.authorise and
api.documents.read_document, and metrics.record), and writes the bytes Flask
would, refusals (Problems) included. Any other shape (``?key=``, ``?explain``,
HEAD, a body, plain HTTP from elsewhere, an encoded query, a ws/wss scheme, a
host Flask's URL map refuses) and any unexpected error go to Flask unchanged.
TOKENAPP_FAST_PATH=false turns it off; tests/test_hotpath.py sends a table of
requests through both."""

import json
import re
import time
from collections.abc import Callable

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from . import db
from . import documents
from . import limits
from . import metrics
from . import usage
from .access import admit
from .access import authorise
from .api.auth import check_headers
from .api.auth import decide_check
from .api.auth import verify_body
from .api.documents import read_document
from .auth import SCHEMES
from .auth import principal_for
from .auth import secret_from
from .auth import transport_allowed
from .errors import MEDIA_TYPE
from .errors import Problem
from .forward import HOST_HEADERS
from .forward import METHOD_HEADERS
from .forward import URI_HEADERS
from .transport import api_headers

VERIFY = "/api/v1/auth/verify"
CHECK = "/api/v1/auth/check"
ENDPOINTS = {VERIFY: "api.verify", CHECK: "api.check"}
GET_DOCUMENT = "api.get_document"
# /api/v1/projects/<project>/<collection>/<doc_id>, as the URL map has it (no empty segment).
DOCUMENT = re.compile(r"/api/v1/projects/([^/]+)/([^/]+)/([^/]+)")
# A query the fast path reads itself: nothing percent-encoded, no '+', no `key`.
PLAIN_QUERY = re.compile(r"[A-Za-z0-9_.:~=&-]*")
CHECK_PARAMS = frozenset({"project", "scope"})
# A request with a body goes to Flask (a GET with one is odd; Flask decides what it means).
UNUSUAL = ("CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING")
SCHEMES_ANSWERED = ("http", "https")
MAX_HOSTS = 64  # hosts remembered as routable (others are checked on each request)
# What decide_check reads of the request's headers, and where WSGI keeps each.
FORWARD_HEADERS = tuple(
    (name, "HTTP_" + name.upper().replace("-", "_"))
    for name in (*METHOD_HEADERS, *URI_HEADERS, *HOST_HEADERS)
)
NO_CONTENT = "204 NO CONTENT"
OK = "200 OK"

Route = tuple[str, tuple[str, ...]]  # (endpoint, the URL's values)


class FastPath:
    def __init__(self, app: Flask, inner: Callable):
        self.app = app
        self.inner = inner
        self.encoders: tuple[Callable, Callable] | None = None
        self.static: frozenset[str] | None = None
        self.hosts: set[tuple] = set()  # (Host, SERVER_NAME, SERVER_PORT), scheme: routable

    def _encode(self, value: dict, *, compact: bool) -> bytes:
        # Flask's json.dumps builds a JSONEncoder per call (~5 µs): build them once, with
        # the provider's settings. compact: as jsonify writes; else as json.dumps (Problem).
        if self.encoders is None:
            provider = self.app.json
            common = {
                "ensure_ascii": provider.ensure_ascii,
                "sort_keys": provider.sort_keys,
                "default": provider.default,
            }
            self.encoders = (
                json.JSONEncoder(separators=(",", ":"), **common).encode,
                json.JSONEncoder(**common).encode,
            )
        return self.encoders[0 if compact else 1](value).encode()

    def __call__(self, environ: dict, start_response: Callable):
        if environ.get("REQUEST_METHOD") == "GET":
            route = self.route(environ.get("PATH_INFO", ""))
            if route is not None:
                start = time.perf_counter()
                answer = self.answer(environ, route)
                if answer is not None:
                    status, headers, body = answer
                    metrics.record(route[0], int(status[:3]), time.perf_counter() - start)
                    start_response(status, headers)
                    return [body]
        return self.inner(environ, start_response)

    def route(self, path: str) -> Route | None:
        """The endpoint (and URL values) the fast path answers for, as Flask's URL map would
        route the path; None for every other path."""
        endpoint = ENDPOINTS.get(path)
        if endpoint is not None:
            return endpoint, ()
        match = DOCUMENT.fullmatch(path)
        # Non-ASCII: werkzeug re-decodes PATH_INFO as UTF-8; NUL: transport refuses it.
        if match is None or not path.isascii() or "\x00" in path:
            return None
        if match[2] in self._static_segments():  # /keys/<key_id>, /users/<username>
            return None
        return GET_DOCUMENT, match.groups()

    def _static_segments(self) -> frozenset[str]:
        if self.static is None:  # after the blueprints are registered: at the first request
            prefix = "/api/v1/projects/<project>/"
            self.static = frozenset(
                rule.rule[len(prefix) :].partition("/")[0]
                for rule in self.app.url_map.iter_rules()
                if rule.rule.startswith(prefix) and not rule.rule[len(prefix) :].startswith("<")
            )
        return self.static

    def _host_routable(self, environ: dict, scheme: str) -> bool:
        """Would Flask's URL map bind to this request's host? It refuses (400) one that is not
        IDNA-encodable (an empty or overlong label). Asked once per host: a site has few."""
        host = (environ.get("HTTP_HOST"), environ.get("SERVER_NAME"), environ.get("SERVER_PORT"))
        if (host, scheme) in self.hosts:
            return True
        try:
            self.app.url_map.bind_to_environ(environ)
        except Exception:  # BadHost's 400, or anything odd: Flask answers
            return False
        if len(self.hosts) < MAX_HOSTS:
            self.hosts.add((host, scheme))
        return True

    def answer(self, environ: dict, route: Route) -> tuple[str, list, bytes] | None:
        """(status, headers, body), or None for Flask to answer."""
        endpoint = route[0]
        query = _plain_query(environ.get("QUERY_STRING", ""), endpoint)
        header = environ.get("HTTP_AUTHORIZATION", "")
        if query is None or not header or UNUSUAL[0] in environ or UNUSUAL[1] in environ:
            return None
        if header.strip().partition(" ")[0].lower() not in SCHEMES:
            return None
        scheme = environ.get("wsgi.url_scheme")
        if scheme not in SCHEMES_ANSWERED:  # ws, wss (a proxy's X-Forwarded-Proto): Flask's 400
            return None
        secure = scheme == "https"
        address = environ.get("REMOTE_ADDR")
        # Plain HTTP from elsewhere: Flask answers (require_https, the transport 403).
        if not (secure or transport_allowed(False, False, address)):
            return None
        if self.app.debug or getattr(self.app.json, "compact", None) is False:
            return None  # jsonify indents: let Flask do it
        if not self._host_routable(environ, scheme):
            return None
        with self.app.app_context() as context:
            try:
                db.open_connection()
                secret = secret_from(header, [])
                if secret is None:
                    return None
                answer = self._decide(route, secret, address, query, environ)
            except Problem as problem:
                answer = self._refusal(problem)
            except Exception:  # anything unexpected: Flask answers it
                return None
            # The API blueprint's after_request: usage counts, then limits' headers.
            usage.flush_if_due()
            window = context.g.get("rate_window")
        status, headers, body = answer
        if window is not None and window.allowed:  # a 429's came with its Problem
            headers.extend(window.headers().items())
        headers.extend(api_headers(secure))
        return status, headers, body

    def _decide(self, route: Route, secret, address, query, environ) -> tuple[str, list, bytes]:
        # The API blueprint's before_request, then the view: the order of the Flask path.
        endpoint, values = route
        # The project the request names: its membership comes with the secret's row.
        slug = values[0] if endpoint == GET_DOCUMENT else query.get("project")
        # A document read: the document comes with them too (one round trip).
        more = documents.read_with(*values[1:]) if endpoint == GET_DOCUMENT else None
        principal = principal_for(secret, slug, more)
        admit(principal, address)
        limits.enforce(principal)
        usage.touch(principal)
        if endpoint == "api.check":
            raw = environ.get("QUERY_STRING", "")
            decide_check(principal, query.get("project"), query.get("scope"), _named(environ), raw)
            headers = [("Content-Type", "text/html; charset=utf-8"), *check_headers(principal)]
            return NO_CONTENT, headers, b""
        if endpoint == GET_DOCUMENT:
            slug, collection, doc_id = values
            access = authorise(principal, "read", None, slug, collection)  # @require("read")
            value = read_document(access.project.id, collection, doc_id, principal.row)
        else:
            value = verify_body(principal)
        body = self._encode(value, compact=True) + b"\n"
        headers = [("Content-Type", self.app.json.mimetype), ("Content-Length", str(len(body)))]
        return OK, headers, body

    def _refusal(self, problem: Problem) -> tuple[str, list, bytes]:
        """A Problem as errors.Problem.response renders it."""
        body = self._encode(problem.body(), compact=False)
        headers = [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(body)))]
        headers += problem.headers.items()
        status = f"{problem.status} {HTTP_STATUS_CODES[problem.status].upper()}"
        return status, headers, body


def _plain_query(query: str, endpoint: str) -> dict[str, str] | None:
    if not query:
        return {}
    if endpoint != "api.check" or not PLAIN_QUERY.fullmatch(query):
        return None
    values: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name not in CHECK_PARAMS or name in values:
            return None
        values[name] = value
    return values


def _named(environ: dict) -> dict[str, str]:
    """The headers check reads (forward.original_request), by their names, as
    werkzeug's EnvironHeaders gives them: a dict's `in` and `get` cost no KeyError each."""
    return {name: environ[key] for name, key in FORWARD_HEADERS if key in environ}


def init_app(app: Flask) -> None:
    """Wrap Flask's WSGI callable (inside TrustedProxies, so the proxy's view applies)."""
    if app.config["FAST_PATH"] and not app.config.get("SERVER_NAME"):
        app.wsgi_app = FastPath(app, app.wsgi_app)
