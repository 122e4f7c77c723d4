"""The fast path: `verify` and `check` answered in front of Flask, by the same rules.

nginx `auth_request` sends every request of an intranet service through
`/api/v1/auth/check`, and scripts start with `verify`. For the ordinary case
(GET over HTTPS or from loopback, a Bearer/Loco header, a plain query, no
rate limit on the credential) this WSGI layer calls the functions the Flask
path calls (auth.principal_for, access.admit, api.auth.verify_body and
decide_check, usage.touch) and writes the same bytes Flask would. Anything
else, and any refusal, goes to Flask unchanged: errors stay Flask's.
TOKENAPP_FAST_PATH=false turns it off (tests compare both).
"""

import re
from collections.abc import Callable

from flask import Flask

from . import db
from . import usage
from .access import admit
from .access import original_methods
from .api.auth import check_headers
from .api.auth import decide_check
from .api.auth import verify_body
from .auth import SCHEMES
from .auth import principal_for
from .auth import secret_from
from .auth import transport_allowed
from .errors import MEDIA_TYPE
from .errors import Problem
from .transport import api_headers

VERIFY = "/api/v1/auth/verify"
CHECK = "/api/v1/auth/check"
# A query the fast path reads itself: nothing percent-encoded, no '+', no `key`.
PLAIN_QUERY = re.compile(r"[A-Za-z0-9_.:~=&-]*")
STATUS_401 = "401 UNAUTHORIZED"
CHECK_PARAMS = frozenset({"project", "scope"})
# Request headers whose presence sends the request to Flask (cookies: pages' business).
UNUSUAL = ("HTTP_COOKIE", "CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING")


class FastPath:
    def __init__(self, app: Flask, inner: Callable):
        self.app = app
        self.inner = inner

    def __call__(self, environ: dict, start_response: Callable):
        path = environ.get("PATH_INFO")
        if (path == VERIFY or path == CHECK) and environ.get("REQUEST_METHOD") == "GET":
            answer = self.answer(environ, path)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return self.inner(environ, start_response)

    def answer(self, environ: dict, path: str) -> tuple[str, list, bytes] | None:
        """(status, headers, body), or None for Flask to answer."""
        if path == CHECK:
            return None  # issue 15's forward rules and original-request checks: not yet here
        query = _plain_query(environ.get("QUERY_STRING", ""), path)
        header = environ.get("HTTP_AUTHORIZATION", "")
        if query is None or not header or any(name in environ for name in UNUSUAL):
            return None
        if header.strip().partition(" ")[0].lower() not in SCHEMES:
            return None
        secure = environ.get("wsgi.url_scheme") == "https"
        address = environ.get("REMOTE_ADDR")
        # Plain HTTP from elsewhere: Flask answers (require_https, the transport 403).
        if not (secure or transport_allowed(False, False, address)):
            return None
        with self.app.app_context():
            try:
                db.open_connection()
                secret = secret_from(header, [])
                if secret is None:
                    return None
                try:
                    principal = principal_for(secret)
                except Problem as problem:  # unknown, revoked, expired: the 401 Flask sends
                    return self.refusal(problem, secure)
                if principal.rate_limit is not None:
                    return None  # limits' headers and leases: Flask's path
                admit(principal, address)
                if path == CHECK:
                    methods = original_methods(_Headers(environ))
                    decide_check(principal, query.get("scope"), query.get("project"), methods)
            except Exception:  # noqa: BLE001  (every refusal and error: Flask answers it)
                return None
            usage.touch(principal)
            if path == CHECK:
                status, body = "204 NO CONTENT", b""
                headers = [("Content-Type", "text/html; charset=utf-8"), *check_headers(principal)]
            else:
                status = "200 OK"
                provider = self.app.json
                if self.app.debug or getattr(provider, "compact", None) is False:
                    return None  # jsonify indents: let Flask do it
                text = provider.dumps(verify_body(principal), separators=(",", ":"))
                body = (text + "\n").encode()
                headers = [
                    ("Content-Type", provider.mimetype),
                    ("Content-Length", str(len(body))),
                ]
            usage.flush_if_due()
        headers.extend(api_headers(secure))
        return status, headers, body

    def refusal(self, problem: Problem, secure: bool) -> tuple[str, list, bytes] | None:
        """A 401 of the core, as errors.Problem.response and the API's hooks render it."""
        if problem.status != 401:
            return None
        body = self.app.json.dumps(problem.body()).encode()
        headers = [("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(body)))]
        headers += problem.headers.items()
        headers.extend(api_headers(secure))
        usage.flush_if_due()
        return STATUS_401, headers, body


def _plain_query(query: str, path: str) -> dict[str, str] | None:
    if not query:
        return {}
    if path != CHECK or not PLAIN_QUERY.fullmatch(query):
        return None
    values: dict[str, str] = {}
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name not in CHECK_PARAMS or name in values:
            return None
        values[name] = value
    return values


class _Headers:
    """The request headers of a WSGI environ, by name, as werkzeug reads them."""

    def __init__(self, environ: dict):
        self.environ = environ

    def _key(self, name: str) -> str:
        return "HTTP_" + name.upper().replace("-", "_")

    def __contains__(self, name: str) -> bool:
        return self._key(name) in self.environ

    def __getitem__(self, name: str) -> str:
        return self.environ[self._key(name)]


def init_app(app: Flask) -> None:
    """Wrap Flask's WSGI callable (inside TrustedProxies, so the proxy's view applies)."""
    if app.config["FAST_PATH"] and not app.config.get("SERVER_NAME"):
        app.wsgi_app = FastPath(app, app.wsgi_app)
