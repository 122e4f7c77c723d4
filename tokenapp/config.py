"""Configuration: defaults, the instance folder, TOKENAPP_* variables, overrides."""

import ipaddress
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

from .files import private_folder

URL_CHARACTERS = re.compile(r"[A-Za-z0-9._~:/\[\]%-]+")


class ImproperlyConfigured(RuntimeError):
    """A setting is missing or wrong; the message names the fix."""


# gunicorn's gthread workers by default: a sign-in waiting for bcrypt (tokenapp/hashing.py)
# holds a thread, not the worker, and idle keep-alive connections hold none (bench/signins.py).
SERVE_THREADS = 8

DEFAULTS = {
    "DATABASE_URL": None,  # None: SQLite file tokenapp.db in the instance folder
    "SECRET_KEY": None,  # None: generated once and kept in the instance folder
    "ALLOW_HTTP": False,
    "REQUIRE_HTTPS": False,
    "MAX_TOKEN_LIFETIME_DAYS": None,  # set: fixes the policy (else /admin/policy decides)
    "TOKEN_EXPIRY_REQUIRED": None,  # refuse every plain-HTTP request from another machine
    "TRUSTED_PROXIES": [],
    "WEBHOOK_ALLOWED_NETWORKS": [],  # networks webhooks may reach besides public addresses
    "SCOPES_FILE": None,  # None: the catalogue shipped in the package
    "FORWARD_RULES": None,  # a TOML file: host + path + method -> project + scope (forward.py)
    "REDIS_URL": None,
    "BCRYPT_ROUNDS": 12,
    "PASSWORD_MIN_LENGTH": 10,
    "LOGIN_FAILURE_LIMIT": 5,  # per username and address (throttle.py)
    "LOGIN_FAILURE_WINDOW": 15 * 60,
    "LOGIN_ADDRESS_FAILURE_LIMIT": 100,  # per address, across usernames
    "LOGIN_DELAY_MAX": 15 * 60,  # ceiling of a username's growing delay (seconds)
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "DOCUMENT_MAX_BYTES": 64 * 1024,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "tokenapp_session",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    "WTF_CSRF_TIME_LIMIT": None,
    "WTF_CSRF_SSL_STRICT": True,  # over HTTPS a form POST needs our own Referer (transport.py)
    "PUBLIC_REVOKE_PER_MINUTE": 10,  # public revocation reports per client address
    "METRICS_TOKEN": None,  # a bearer token that may read /metrics from anywhere
    "USAGE_COUNTS": True,  # hourly request counts per credential (last_used is always kept)
    "USAGE_FLUSH_SECONDS": 30,
    "PUBLIC_URL": None,  # None: curl examples use $TOKENAPP_URL (or a loopback address)
    "SUDO_SECONDS": 10 * 60,  # a dangerous change asks again after this since sign-in (sudo.py)
    "PASSWORD_LOGIN": True,  # false: sign in only through single sign-on (the CLI still resets)
    "OIDC_ISSUER": None,  # with _CLIENT_ID and _CLIENT_SECRET: single sign-on (sso.py)
    "OIDC_CLIENT_ID": None,
    "OIDC_CLIENT_SECRET": None,
    "OIDC_NAME": None,  # the button says "Sign in with <name>"
    "OIDC_AUTO_CREATE": False,  # make an account for someone the provider vouches for
    "OIDC_ADMIN_GROUP": None,  # members of this `groups` entry are admins
    "OIDC_TRUST_MFA": False,  # the provider always does two-factor (else its `amr` must say)
    "FAST_PATH": True,  # verify/check answered in front of Flask (hotpath.py); false: by Flask
    "AUTH_CACHE": True,  # lookups kept per process, checked on each request (authcache.py)
    "CLOCK": None,  # tests inject a callable returning naive UTC datetimes
}


# Settings that are text whatever they look like (secrets, names): never JSON numbers.
TEXT = ("SECRET_KEY", "METRICS_TOKEN", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_NAME")


def instance_path() -> str:
    # Read directly: Flask needs the instance folder before config exists.
    return os.path.abspath(os.environ.get("TOKENAPP_INSTANCE_PATH", "instance"))


def load(app: Flask, overrides: dict | None) -> None:
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("TOKENAPP")
    for name in TEXT:  # read as JSON, 20261201 was a number: keep what was written
        if not isinstance(app.config[name], str | None):
            app.config[name] = os.environ[f"TOKENAPP_{name}"]
    if overrides:
        app.config.update(overrides)
    private_folder(app.instance_path)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))
    if not app.config["DATABASE_URL"]:
        path = os.path.join(app.instance_path, "tokenapp.db")
        app.config["DATABASE_URL"] = f"sqlite:///{path}"
    app.config["TRUSTED_PROXIES"] = _as_list(app.config["TRUSTED_PROXIES"])
    app.config["PUBLIC_URL"] = parse_public_url(app.config["PUBLIC_URL"])
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = _networks(app.config["WEBHOOK_ALLOWED_NETWORKS"])


def _instance_secret_key(folder: Path) -> str:
    path = folder / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    # O_EXCL: two workers starting at once must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _as_list(value) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    raise ImproperlyConfigured(
        "TOKENAPP_TRUSTED_PROXIES must be a comma-separated list of addresses or networks"
    )


def parse_public_url(value: object) -> str | None:
    """TOKENAPP_PUBLIC_URL checked and without its trailing slash; None when unset."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    url = value.strip() if isinstance(value, str) else ""
    problem = _public_url_problem(url)
    if problem:
        raise ImproperlyConfigured(
            f"TOKENAPP_PUBLIC_URL {problem}: give the address people use, "
            "such as https://tokenapp.example.internal or https://intranet.example/tokenapp"
        )
    return url.rstrip("/")


def _public_url_problem(url: str) -> str | None:
    # It is pasted into shell lines (curl examples): only characters no shell reads.
    if not URL_CHARACTERS.fullmatch(url):
        return "must be an http(s) URL of letters, digits and -._~:/[]%"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must start with https:// or http://"
    if not parts.hostname:
        return "has no host"
    return None


def _networks(value) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        items = [value]
    networks = []
    for item in items:
        if not str(item).strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(str(item).strip(), strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"TOKENAPP_WEBHOOK_ALLOWED_NETWORKS: {str(item)!r} is not a network; give "
                "comma-separated CIDRs, e.g. 10.20.0.0/16,fd00::/8"
            ) from None
    return networks
