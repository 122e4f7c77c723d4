"""The data API: documents of a project's collections, and flow runs."""

from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from flask import url_for

from .. import documents
from ..access import require
from ..errors import Problem
from ..errors import invalid
from ..fields import SERVER_FIELDS
from ..models import Document
from ..query import BadQuery
from ..query import query_int
from ..validation import json_body
from ..validation import json_document
from ..validation import within
from . import bp
from .serializers import document


@bp.get("/projects/<project>/<collection>")
@require("read")
def list_documents(collection: str):
    """A page of documents, oldest first; pass `next_cursor` back as `cursor`."""
    rows, more = documents.page(
        g.access.project.id,
        collection,
        after=_query_int("cursor", 0, 0, 2**62),
        limit=_query_int("limit", 20, 1, 100),
    )
    return jsonify(
        items=[_shown(row) for row in rows],
        next_cursor=str(rows[-1].seq) if more else None,
    )


@bp.post("/projects/<project>/<collection>")
@require("create")
def create_document(collection: str):
    doc = documents.create(
        g.access.project,
        collection,
        _document_body(),
        user_id=g.principal.user_id,
        creator=g.principal.username,
    )
    return _created(doc)


@bp.get("/projects/<project>/<collection>/<doc_id>")
@require("read")
def get_document(collection: str, doc_id: str):
    return jsonify(read_document(g.access.project.id, collection, doc_id))


def read_document(project_id: int, collection: str, doc_id: str, looked_up=None) -> dict:
    """get_document's answer (the Flask view and the fast path send it), or a 404 Problem.
    looked_up: the secret's row, when documents.read_with read the document with it."""
    return _shown(_find_in(project_id, collection, doc_id, looked_up))


@bp.put("/projects/<project>/<collection>/<doc_id>")
@require("update")
def replace_document(collection: str, doc_id: str):
    doc = _find(collection, doc_id)
    return jsonify(_shown(documents.save(doc, _document_body())))


@bp.patch("/projects/<project>/<collection>/<doc_id>")
@require("update")
def patch_document(collection: str, doc_id: str):
    """JSON merge patch (RFC 7396): null removes a field."""
    doc = _find(collection, doc_id)
    return jsonify(_shown(documents.save(doc, documents.merge(doc.body, _document_body()))))


@bp.delete("/projects/<project>/<collection>/<doc_id>")
@require("delete")
def delete_document(collection: str, doc_id: str):
    _find(collection, doc_id).delete_instance()
    return "", 204


@bp.post("/projects/<project>/flows/<doc_id>/runs")
@require("run", entity="flows")
def run_flow(doc_id: str):
    """Record a run of the flow; the body (optional) is the run's input."""
    return _record_run(doc_id, "run")


@bp.post("/projects/<project>/flows/<doc_id>/webhook")
@require("webhook", entity="flows")
def trigger_webhook(doc_id: str):
    """Trigger a webhook flow (a flow whose document has "trigger": "webhook")."""
    return _record_run(doc_id, "webhook")


def _record_run(flow_id: str, trigger: str):
    flow = _find("flows", flow_id)
    if trigger == "webhook" and not documents.is_webhook_flow(flow):
        raise Problem(
            409, "Not a webhook flow", 'Only flows with "trigger": "webhook" can be triggered.'
        )
    within(current_app.config["DOCUMENT_MAX_BYTES"])  # the input is stored like a document
    payload = json_body() if request.get_data(cache=True) else None
    flow.project = g.access.project
    run = documents.record_run(
        flow, trigger, payload, user_id=g.principal.user_id, creator=g.principal.username
    )
    return _created(run)


def _shown(row: Document) -> dict:
    return document(row, row.creator)


def _find(collection: str, doc_id: str) -> Document:
    return _find_in(g.access.project.id, collection, doc_id)


def _find_in(project_id: int, collection: str, doc_id: str, looked_up=None) -> Document:
    doc = documents.find(project_id, collection, doc_id, looked_up)
    if doc is None:
        raise Problem(404, "Not Found", f"No document {doc_id!r} in {collection}.")
    return doc


def _document_body() -> dict:
    body = json_document(current_app.config["DOCUMENT_MAX_BYTES"])
    errors = [
        {"field": name, "message": "Set by the server; leave it out."}
        for name in SERVER_FIELDS
        if name in body
    ]
    if errors:
        raise invalid(errors)
    return body


def _created(doc: Document):
    response = jsonify(_shown(doc))
    response.status_code = 201
    response.headers["Location"] = url_for(
        "api.get_document",
        project=g.access.project.slug,
        collection=doc.collection,
        doc_id=str(doc.id),
    )
    return response


def _query_int(name: str, default: int, low: int, high: int) -> int:
    try:
        return query_int(name, default, low, high)
    except BadQuery as exc:
        raise exc.problem() from None
