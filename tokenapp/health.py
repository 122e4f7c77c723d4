"""GET /healthz: liveness and database reachability, no credential."""

from flask import jsonify

from .db import database
from .errors import Problem


def healthz():
    try:
        database.execute_sql("SELECT 1")
    except Exception as exc:  # any driver error means "not reachable"
        raise Problem(503, "Database unreachable", type(exc).__name__, kind="unhealthy") from None
    return jsonify(status="ok", database="ok")
