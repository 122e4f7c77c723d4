"""Absolute URLs the app shows (curl examples): never built from the Host header.

The Host header is the client's to choose (and a proxy may pass any), so a
page that holds a live export key must not put it in front of a host the
client named. Absolute URLs come from TOKENAPP_PUBLIC_URL. Without it, a
request to a loopback name (a local install: http://127.0.0.1:8000) uses that
name, since such a link cannot leave the user's machine; anything else gets
the shell variable ``$TOKENAPP_URL``, so the line still pastes into a shell.
"""

import ipaddress
import re

from flask import current_app
from flask import request

PLACEHOLDER = "$TOKENAPP_URL"
# Exactly a name or address and an optional port: nothing else may ride along.
HOST = re.compile(r"(localhost|[0-9.]+|\[::1\])(:[0-9]{1,5})?")


def base() -> str:
    """This server's root as a curl user reaches it, without a trailing slash."""
    configured = current_app.config.get("PUBLIC_URL")
    if configured:
        return configured
    if _is_loopback(request.host):
        return request.url_root.rstrip("/")
    return PLACEHOLDER


def absolute(path: str) -> str:
    """base() + path; path starts with '/'."""
    return base() + path


def is_placeholder() -> bool:
    return base() == PLACEHOLDER


def _is_loopback(host: str) -> bool:
    match = HOST.fullmatch(host)
    if match is None:
        return False
    name = match.group(1)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False
