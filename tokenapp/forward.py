"""Forward auth: the original request a proxy asks `/auth/check` about.

nginx `auth_request` names it in X-Original-Method / X-Original-URI (the
recipe sets them); Caddy `forward_auth` and Traefik `forwardAuth` in
X-Forwarded-Method / -Uri / -Host. These headers are not identity (the
credential is; the client address comes from transport's trusted proxies):
they only say which request the answer is about, and whoever sends them only
learns whether their own credential could make that request. So they are read
from any caller, but a client can add the other family behind a proxy that
sets one (nginx passes unknown headers on, Caddy copies them): every method
named must pass (the caller checks each), and two different URIs or hosts are
refused rather than one chosen.

The optional rules file (TOKENAPP_FORWARD_RULES, TOML, data like the scope
catalogue) maps host + path prefix + method to project + scope, so one check
location protects many services. First match wins; no match is refused.
"""

import posixpath
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote
from urllib.parse import urlsplit

from flask import Flask
from flask import current_app

from .access.rules import METHOD_HEADERS
from .access.rules import refuse

URI_HEADERS = ("X-Original-URI", "X-Forwarded-Uri")
HOST_HEADERS = ("X-Original-Host", "X-Forwarded-Host")
ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
DOTS = (".", "..")  # path segments a backend may or may not resolve
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RulesError(ValueError):
    """The rules file cannot be used; the message says where."""


@dataclass(frozen=True)
class Original:
    methods: tuple[str, ...]  # every method a proxy named, as named; empty: none named
    path: str | None  # percent-decoded, no dot segments (refused), no query
    host: str | None  # as _host writes it: lower case, no port, no trailing dot
    query: str | None = None  # the URI's query as sent; None: the URI has none


@dataclass(frozen=True)
class Rule:
    project: str
    scope: str | None
    path: str = "/"
    host: str | None = None
    methods: frozenset[str] | None = None

    def matches(self, original: Original) -> bool:
        if self.host is not None and original.host != self.host:
            return False
        if self.methods is not None and not set(original.methods or ("GET",)) <= self.methods:
            return False
        return original.path is not None and _under(original.path, self.path)


def original_request(headers) -> Original:
    """The request the proxy asks about, from whichever headers it sent.

    `headers`: the request's headers by name (werkzeug's Headers or EnvironHeaders),
    so that the Flask view and the fast path (hotpath.py) read them alike.
    """
    # As named: methods are case-sensitive (RFC 9110 9.1), and Caddy hands "get" on to
    # the backend, for which it is not GET: it names no operation.
    methods = tuple(dict.fromkeys(headers[h].strip()[:16] for h in METHOD_HEADERS if h in headers))
    uri = _one(headers, URI_HEADERS)
    host = _one(headers, HOST_HEADERS)
    query = uri.split("#", 1)[0].partition("?") if uri is not None else None
    return Original(
        methods=methods,
        path=_normal_path(uri, original=True) if uri is not None else None,
        host=_host(host) if host else None,
        query=query[2] if query and query[1] else None,
    )


def own_query(original: Original, query: str) -> None:
    """Refuse a check whose query (naming the project or scope) is the original request's
    own: the proxy passed the client's query on (Caddy does, to a forward_auth uri without
    a "?"), so the client would choose what is checked instead of the proxy or the rules."""
    if query and original.query == query:
        raise refuse(
            "original",
            "The check's project and scope came with the original request's own query: "
            "name them in the check's URI (Caddy: end forward_auth's uri in '?'), or use "
            "the rules file.",
            title="Conflicting original request",
        )


def rules() -> tuple[Rule, ...] | None:
    """The rules of TOKENAPP_FORWARD_RULES, loaded at start; None when none is set."""
    return current_app.extensions.get("tokenapp.forward_rules")


def rule_for(original: Original, rules: tuple[Rule, ...] | None) -> Rule | None:
    """The first of `rules` matching the request; None when there are no rules."""
    if rules is None:
        return None
    for rule in rules:
        if rule.matches(original):
            return rule
    raise refuse("rules", "No forward-auth rule covers this host, path and method.")


def init_app(app: Flask) -> None:
    path = app.config.get("FORWARD_RULES")
    app.extensions["tokenapp.forward_rules"] = load(path) if path else None


def load(path: str | Path) -> tuple[Rule, ...]:
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path}: {exc}") from None
    rows = data.get("rule")
    if not isinstance(rows, list) or not rows or set(data) - {"rule"}:
        raise RulesError(f"{path}: expected one or more [[rule]] tables and nothing else")
    return tuple(_rule(row, f"{path}: rule {n}") for n, row in enumerate(rows, 1))


def _rule(row: dict, where: str) -> Rule:
    unknown = set(row) - {"host", "path", "methods", "project", "scope"}
    if unknown:
        raise RulesError(f"{where}: unknown keys {sorted(unknown)}")
    project, scope, path = row.get("project"), row.get("scope"), row.get("path", "/")
    if not isinstance(project, str) or not project:
        raise RulesError(f"{where}: 'project' (a project slug) is required")
    if scope is not None and not isinstance(scope, str):
        raise RulesError(f"{where}: 'scope' must be a scope string")
    if not isinstance(path, str) or not path.startswith("/"):
        raise RulesError(f"{where}: 'path' must be a prefix starting with /")
    host = row.get("host")
    if host is not None and (not isinstance(host, str) or not host):
        raise RulesError(f"{where}: 'host' must be a host name")
    methods = row.get("methods")
    if methods is not None:
        if (
            not isinstance(methods, list)
            or not methods
            or not all(isinstance(m, str) for m in methods)
        ):
            raise RulesError(f"{where}: 'methods' must be a list of method names")
        methods = frozenset(m.upper() for m in methods)
        if methods - METHODS:
            raise RulesError(f"{where}: unknown methods {sorted(methods - METHODS)}")
    return Rule(project, scope, _normal_path(path), _host(host) if host else None, methods)


def _one(headers, names: tuple[str, ...]) -> str | None:
    values = {headers[h].strip() for h in names if headers.get(h, "").strip()}
    if len(values) > 1:
        # 403, not 400: nginx turns any other answer of auth_request into a 500.
        raise refuse(
            "original",
            f"{' and '.join(names)} disagree: the proxy must send one of them.",
            title="Conflicting original request",
        )
    return values.pop() if values else None


def _host(value: str) -> str:
    """A host as a name, whatever the proxy or the rules file wrote: lower case, without
    its port, an IPv6 literal without brackets, and no trailing dot (Caddy serves the
    site "admin.intranet" to "admin.intranet." and names it so)."""
    host = value.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:  # a name or IPv4 address with its port
        host = host.partition(":")[0]
    return host.rstrip(".")


def _normal_path(uri: str, *, original: bool = False) -> str:
    """The path a backend will see: the query dropped, %-escapes decoded (%2F too, so
    that /public%2F..%2Fadmin cannot slip past a prefix), // resolved. Whole: a cut could
    drop what takes it elsewhere (the server bounds a header's length: gunicorn's
    limit_request_field_size).

    `original`: the proxy's URI, whose '.' and '..' segments (however escaped, and
    Tomcat's '..;') are refused: nginx and Caddy hand the backend the path as sent, and
    one backend resolves /flows/../reports (to /reports) where another (werkzeug,
    Express) routes it under /flows: which one it will be cannot be known here.
    """
    raw = uri.split("?", 1)[0].split("#", 1)[0]
    if ABSOLUTE.match(raw):  # an absolute URI (a proxy may send one): keep only its path
        raw = urlsplit(raw).path
    path = unquote(raw).replace("\\", "/")
    if original and any(part.split(";", 1)[0] in DOTS for part in path.split("/")):
        raise refuse(
            "original",
            "The original path has '.' or '..' segments: backends resolve them differently, "
            "so which path this one will serve is unknown.",
            title="Ambiguous original request",
        )
    path = posixpath.normpath("/" + path)
    return "/" + path.lstrip("/")


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/") or not prefix
