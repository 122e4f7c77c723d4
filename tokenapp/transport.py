"""What every response carries and what the proxy in front may tell us."""

import ipaddress

from flask import Flask
from flask import Request
from flask import Response
from flask import abort
from flask import current_app
from flask import request
from flask.sessions import NullSession
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from .errors import is_api_request

DOCS_PAGE = "/api/docs"  # a page in the app's frame (who is signed in), not an API route
STATIC_PREFIX = "/static/"  # Flask's default static_url_path, which create_app keeps
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class TrustedProxies:
    """Honour X-Forwarded-* only when the peer is a configured proxy."""

    def __init__(self, wsgi_app, proxies: list[str]):
        self.direct = wsgi_app
        self.forwarded = ProxyFix(wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)
        self.networks = [ipaddress.ip_network(p, strict=False) for p in proxies]

    def __call__(self, environ, start_response):
        app = self.forwarded if self._trusted(environ.get("REMOTE_ADDR")) else self.direct
        return app(environ, start_response)

    def _trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def sessionless(path: str) -> bool:
    """An API request or a static file: no session is opened or saved, flask-login sees nobody.

    The API never reads the session cookie: a browser's sign-in cannot authorise
    an API call, and a cross-site request has nothing to borrow. A static file
    needs no one, and its late response must not put back the cookie as it was
    before a newer page (that page's passkey challenge would be lost).
    """
    if path.startswith(STATIC_PREFIX):
        return True
    return is_api_request(path) and path != DOCS_PAGE


class SessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request):
        if sessionless(request.path):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def save_session(self, app: Flask, session, response: Response) -> None:
        if isinstance(session, NullSession):
            return
        super().save_session(app, session, response)

    # Secure cookies whenever the request came over HTTPS (directly or via a trusted proxy).
    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


# same-origin, not no-referrer: over HTTPS Flask-WTF refuses a form POST whose Referer is
# missing or from another origin (WTF_CSRF_SSL_STRICT), so the browser must send ours to us;
# other sites still get nothing. An Origin check instead would not hold: under no-referrer
# browsers send "Origin: null" on our own POSTs, as a sandboxed attacker frame does.
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")
NO_STORE = ("Cache-Control", "no-store")


# Precomputed per (secure, no-store): what a response gets when the view set none of them.
_WANTED = {
    (secure, no_store): tuple(SECURITY_HEADERS)
    + ((HSTS,) if secure else ())
    + ((NO_STORE,) if no_store else ())
    for secure in (False, True)
    for no_store in (False, True)
}
_NAMES = frozenset(name.lower() for name, _ in (*SECURITY_HEADERS, HSTS, NO_STORE))


def api_headers(secure: bool) -> tuple[tuple[str, str], ...]:
    """The security headers of an API response whose view set none (the fast path's too)."""
    return _WANTED[secure, True]


def security_headers(response: Response) -> Response:
    # One pass over what the view set (a page may widen its own CSP); Headers.setdefault
    # raises and catches a KeyError per missing header, which showed in the verify profile.
    wanted = _WANTED[request.is_secure, is_api_request() or response.mimetype == "text/html"]
    present = {name.lower() for name, _ in response.headers} & _NAMES
    if present:
        wanted = [pair for pair in wanted if pair[0].lower() not in present]
    response.headers.extend(wanted)
    return response


def refuse_nul() -> None:
    """NUL never belongs in a path, query or form value; PostgreSQL cannot even store it."""
    # In a query string NUL can only arrive percent-encoded: check the raw bytes.
    found = "\x00" in request.path or b"%00" in request.query_string
    if not found and request.method == "POST" and request.mimetype in FORM_TYPES:
        found = any("\x00" in value for value in request.form.values())
    if found:
        abort(400, "NUL characters are not allowed in paths, query strings or form fields.")


def from_loopback(address: str | None) -> bool:
    if address in ("127.0.0.1", "::1"):
        return True
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def in_clear() -> bool:
    """Plain HTTP from another machine: passwords and new secrets cross the network readable."""
    return not request.is_secure and not from_loopback(request.remote_addr)


def require_https() -> None:
    if current_app.config["REQUIRE_HTTPS"] and in_clear():
        abort(403, "This site is served over HTTPS only (TOKENAPP_REQUIRE_HTTPS): use https://.")


def init_app(app: Flask) -> None:
    if app.config["TRUSTED_PROXIES"]:  # none configured: no per-request parsing to do
        app.wsgi_app = TrustedProxies(app.wsgi_app, app.config["TRUSTED_PROXIES"])
    app.session_interface = SessionInterface()
    app.before_request(refuse_nul)
    if app.config["REQUIRE_HTTPS"]:
        app.before_request(require_https)
    app.add_template_global(in_clear)
    app.after_request(security_headers)
