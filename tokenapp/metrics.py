"""GET /metrics: Prometheus text, correct across gunicorn workers.

prometheus_client's multiprocess mode: `tokenapp serve` points every worker at
<instance>/metrics (emptied at start), each worker writes its counters to its
own memory-mapped file, and a scrape adds them up. Outside `serve` (tests, the
Flask dev server) the counters live in the process. The live credentials are
counted in the database at scrape time. Labels are fixed sets (route group,
outcome, kind): never a secret, a username, a project or a path.

Read from loopback (a request that came through a proxy, with X-Forwarded-For,
Forwarded, X-Real-IP or the like, is not loopback), or with `Authorization: Bearer
$TOKENAPP_METRICS_TOKEN`. Usage-flush and webhook failures are counted from
the warnings `tokenapp.usage` and `tokenapp.notices` log, so those modules stay
as they are.
"""

import logging
import os
import shutil
import time
from pathlib import Path

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import request
from peewee import fn

from . import credentials
from .clock import now
from .models import Credential
from .transport import from_loopback

GROUPS = {
    "api.verify": "auth",
    "api.check": "auth",
    "api.public_revoke_report": "revoke",
    "healthz": "health",
    "metrics": "metrics",
    "static": "static",
}
TIMED = {"api.verify": "verify", "api.check": "check"}
FAILURES = {"tokenapp.usage": "usage_flush", "tokenapp.notices": "webhook"}
# A request carrying any of these came through a proxy (nginx adds none unless told to,
# and many of its configurations add only X-Real-IP): from loopback, it is not loopback's.
PROXY_HEADERS = (
    "X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Host", "Via"
)  # fmt: skip
_metrics: dict = {}
_children: dict = {}
_answer_children: dict = {}  # (endpoint, status) -> the children record() counts in


def multiprocess(root: Path) -> None:
    """Called by `serve` before the workers fork: an empty folder of this server's own,
    under root, that its workers write to.

    Two servers may share an instance folder (a restart that starts the new one before
    stopping the old, two nodes on one host): each counts its own workers, and the one
    starting clears only the folders of servers that are gone.
    """
    from prometheus_client import values

    for folder in root.glob("serve-*"):
        if not _running(folder.name.removeprefix("serve-")):
            shutil.rmtree(folder, ignore_errors=True)
    for left in root.glob("*.db"):  # an older release wrote its workers' files here
        left.unlink(missing_ok=True)
    folder = root / f"serve-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)  # a gone server's, whose process id this is now
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    values.ValueClass = values.MultiProcessValue()
    _metrics.clear()
    _children.clear()
    _answer_children.clear()


def _running(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def _get() -> dict:
    """This process's metrics, made at first use (after the fork, in the right mode)."""
    if not _metrics:
        from prometheus_client import CollectorRegistry
        from prometheus_client import Counter
        from prometheus_client import Histogram

        registry = CollectorRegistry()
        _metrics.update(
            registry=registry,
            requests=Counter(
                "tokenapp_requests",
                "Requests by route group and outcome.",
                ["group", "outcome"],
                registry=registry,
            ),
            latency=Histogram(
                "tokenapp_auth_seconds",
                "Time to answer /auth/verify and /auth/check.",
                ["route"],
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
                registry=registry,
            ),
            limited=Counter(
                "tokenapp_rate_limited", "Requests refused with 429.", ["group"], registry=registry
            ),
            failures=Counter(
                "tokenapp_failures",
                "Usage flushes and webhooks that failed.",
                ["what"],
                registry=registry,
            ),
        )
    return _metrics


def _child(metric: str, *labels: str):
    # prometheus_client's labels() validates and locks on every call: keep the children.
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = _get()[metric].labels(*labels)
    return child


def _group(endpoint: str | None) -> str:
    if endpoint is None:
        return "unknown"
    if endpoint in GROUPS:
        return GROUPS[endpoint]
    blueprint, _, name = endpoint.partition(".")
    if blueprint == "web":
        return "pages"
    if "token" in name:
        return "tokens"
    if "key" in name:
        return "keys"
    return "data"


def _outcome(status: int) -> str:
    if status in (401, 403, 429):
        return str(status)
    return f"{status // 100}xx"


def _start() -> None:
    g.metrics_start = time.perf_counter()


def _count(response: Response) -> Response:
    start = g.get("metrics_start")
    seconds = None if start is None else time.perf_counter() - start
    record(request.endpoint, response.status_code, seconds)
    return response


def record(endpoint: str | None, status: int, seconds: float | None) -> None:
    """Count one answered request: the Flask path's after_request and the fast path call it."""
    requests, limited, latency = _answer_children.get((endpoint, status)) or _children_of(
        endpoint, status
    )
    requests.inc()
    if limited is not None:
        limited.inc()
    if latency is not None and seconds is not None:
        latency.observe(seconds)


def _children_of(endpoint: str | None, status: int) -> tuple:
    group = GROUPS.get(endpoint) or _group(endpoint)
    route = TIMED.get(endpoint)
    children = _answer_children[endpoint, status] = (
        _child("requests", group, _outcome(status)),
        _child("limited", group) if status == 429 else None,
        _child("latency", route) if route is not None else None,
    )
    return children


class _FailureCounter(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        what = FAILURES.get(record.name)
        if what:
            _child("failures", what).inc()


def _live_credentials():
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(
        "tokenapp_live_credentials", "Credentials neither revoked nor expired.", labels=["kind"]
    )
    moment = now()
    rows = dict(
        Credential.select(Credential.kind, fn.COUNT(Credential.id))
        .where(
            Credential.revoked_at.is_null()
            & (Credential.expires_at.is_null() | (Credential.expires_at > moment))
        )
        .group_by(Credential.kind)
        .tuples()
    )
    for kind in ("pat", "export", "full"):
        family.add_metric([kind], rows.get(kind, 0))
    return family


class _Database:
    def collect(self):
        yield _live_credentials()


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return credentials.same(header[len("Bearer ") :].strip(), token)
    proxied = any(name in request.headers for name in PROXY_HEADERS)
    return from_loopback(request.remote_addr) and not proxied


def metrics():
    """Prometheus text format: loopback, or the bearer TOKENAPP_METRICS_TOKEN."""
    from prometheus_client import CONTENT_TYPE_LATEST
    from prometheus_client import CollectorRegistry
    from prometheus_client import generate_latest
    from prometheus_client import multiprocess as mp

    if not _allowed():
        return Response("Forbidden: /metrics is for loopback or TOKENAPP_METRICS_TOKEN.\n", 403)
    registry = _get()["registry"]
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry, path=folder)
    text = generate_latest(registry) + generate_latest(_database_registry())
    return Response(text, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


def _database_registry():
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Database())
    return registry


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_count)
    app.add_url_rule("/metrics", "metrics", metrics)
    handler = _FailureCounter(logging.WARNING)
    for name in FAILURES:
        logger = logging.getLogger(name)
        if not any(isinstance(h, _FailureCounter) for h in logger.handlers):
            logger.addHandler(handler)
