"""Problem details (RFC 9457): the one way an API error leaves the app."""

import logging

from flask import Flask
from flask import Response
from flask import json
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_TYPE = "urn:tokenapp:problem:"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise it from any API code path; the handler renders it."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        **extra,
    ):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail or title
        self.kind = kind
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict:
        body = {
            "type": PROBLEM_TYPE + self.kind if self.kind else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body

    def response(self) -> Response:
        response = Response(json.dumps(self.body()), self.status, mimetype=MEDIA_TYPE)
        response.headers.update(self.headers)
        return response


def invalid(errors: list[dict], detail: str | None = None) -> Problem:
    """422 with field-level errors: [{"field": ..., "message": ...}]; the detail names them."""
    detail = detail or "Invalid fields: " + ", ".join(sorted({e["field"] for e in errors}))
    return Problem(422, "Invalid request body", detail, kind="validation", errors=errors)


API_PREFIX = "/api/"


def is_api_request(path: str | None = None) -> bool:
    """An API (or health) request: answered in problem+json, never with the session."""
    path = request.path if path is None else path
    return path.startswith(API_PREFIX) or path == "/healthz"


def _http_error(exc: HTTPException):
    if is_api_request():
        problem = Problem(exc.code or 500, exc.name, exc.description)
        if exc.code == 405 and exc.valid_methods:
            problem.headers["Allow"] = ", ".join(exc.valid_methods)
        return problem.response()
    return render_template("error.html", error=exc), exc.code


def _unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    if is_api_request():
        return Problem(500, "Internal Server Error", "The server could not finish.").response()
    return render_template("error.html", error=None), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(Problem, lambda exc: exc.response())
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
