"""Projects and their data: JSON documents per collection, members, flow runs.

Every project route declares its operation with @require; the entity is the
URL's collection unless named.
"""

import uuid

from flask import current_app
from flask import g
from flask import jsonify
from flask import request
from peewee import JOIN

from .. import projects
from ..access import PROJECT
from ..access import any_credential
from ..access import require
from ..access import visible_projects
from ..accounts import find_user
from ..clock import now
from ..db import Prepared
from ..errors import Problem
from ..errors import invalid
from ..fields import SERVER_FIELDS
from ..fields import USERNAME
from ..models import ROLES
from ..models import Document
from ..models import Project
from ..models import User
from ..query import BadQuery
from ..query import query_int
from ..validation import json_body
from ..validation import json_document
from ..validation import one_of
from ..validation import read_body
from ..validation import text
from ..validation import within
from . import bp
from .serializers import document
from .serializers import member
from .serializers import timestamp

ROLE = one_of(ROLES)


@bp.get("/projects")
@any_credential
def list_projects():
    """The projects this credential can see, with the caller's role in each."""
    return jsonify(
        [
            {
                "slug": a.project.slug,
                "name": a.project.name,
                "role": a.role,
                "created_at": timestamp(a.project.created_at),
            }
            for a in visible_projects(g.principal)
        ]
    )


@bp.get("/projects/<project>")
@require("read", PROJECT)
def get_project(project: str):
    access = g.access
    row = Project.get_by_id(access.project.id)
    return jsonify(
        slug=row.slug,
        name=row.name,
        role=access.role,
        created_at=timestamp(row.created_at),
    )


# Members: the `users` collection is the project's real member list.
@bp.get("/projects/<project>/users")
@require("read", entity="users")
def list_members(project: str):
    return jsonify(items=[member(m) for m in projects.members(g.access.project)], next_cursor=None)


@bp.get("/projects/<project>/users/<username>")
@require("read", entity="users")
def get_member(project: str, username: str):
    return jsonify(member(_membership(username)))


@bp.post("/projects/<project>/users")
@require("create", entity="users")
def add_member(project: str):
    body = read_body(
        {"username": text(USERNAME.low, USERNAME.high), "role": ROLE}, required=("username", "role")
    )
    user = find_user(body["username"])
    if user is None:
        raise Problem(404, "Not Found", f"No user {body['username']!r}.")
    try:
        membership = projects.add_member(g.access.project, user, body["role"], actor=_actor())
    except projects.ProjectError as exc:
        raise _conflict_or_invalid(exc, "role") from None
    return jsonify(member(membership)), 201


@bp.route("/projects/<project>/users/<username>", methods=["PUT", "PATCH"])
@require("update", entity="users")
def change_member(project: str, username: str):
    body = read_body({"role": ROLE}, required=("role",))
    membership = _membership(username)
    try:
        projects.change_role(membership, body["role"], actor=_actor())
    except projects.ProjectError as exc:
        raise _conflict_or_invalid(exc, "role") from None
    return jsonify(member(membership))


@bp.delete("/projects/<project>/users/<username>")
@require("delete", entity="users")
def remove_member(project: str, username: str):
    try:
        projects.remove_member(_membership(username), actor=_actor())
    except projects.ProjectError as exc:
        raise _conflict_or_invalid(exc, "username") from None
    return "", 204


# Documents: every other collection of the catalogue.
@bp.get("/projects/<project>/<collection>")
@require("read")
def list_documents(project: str, collection: str):
    """A page of documents, oldest first; pass `next_cursor` back as `cursor`."""
    limit = _query_int("limit", 20, 1, 100)
    after = _query_int("cursor", 0, 0, 2**62)
    rows = list(
        _documents(collection).where(Document.seq > after).order_by(Document.seq).limit(limit + 1)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        items=[_document(row) for row in rows],
        next_cursor=str(rows[-1].seq) if more else None,
    )


@bp.post("/projects/<project>/<collection>")
@require("create")
def create_document(project: str, collection: str):
    doc = Document.create(
        project=g.access.project,
        collection=collection,
        body=_document_body(),
        created_by=g.principal.user_id,
    )
    return _created(doc)


@bp.get("/projects/<project>/<collection>/<doc_id>")
@require("read")
def get_document(project: str, collection: str, doc_id: str):
    return jsonify(_document(_find(collection, doc_id)))


@bp.put("/projects/<project>/<collection>/<doc_id>")
@require("update")
def replace_document(project: str, collection: str, doc_id: str):
    doc = _find(collection, doc_id)
    return _save(doc, _document_body())


@bp.patch("/projects/<project>/<collection>/<doc_id>")
@require("update")
def patch_document(project: str, collection: str, doc_id: str):
    """JSON merge patch (RFC 7396): null removes a field."""
    doc = _find(collection, doc_id)
    return _save(doc, _merge(doc.body, _document_body()))


@bp.delete("/projects/<project>/<collection>/<doc_id>")
@require("delete")
def delete_document(project: str, collection: str, doc_id: str):
    _find(collection, doc_id).delete_instance()
    return "", 204


@bp.post("/projects/<project>/flows/<doc_id>/runs")
@require("run", entity="flows")
def run_flow(project: str, doc_id: str):
    """Record a run of the flow; the body (optional) is the run's input."""
    return _record_run(doc_id, "run")


@bp.post("/projects/<project>/flows/<doc_id>/webhook")
@require("webhook", entity="flows")
def trigger_webhook(project: str, doc_id: str):
    """Trigger a webhook flow (a flow whose document has "trigger": "webhook")."""
    return _record_run(doc_id, "webhook")


def _record_run(flow_id: str, trigger: str):
    flow = _find("flows", flow_id)
    if trigger == "webhook" and flow.body.get("trigger") != "webhook":
        raise Problem(
            409, "Not a webhook flow", 'Only flows with "trigger": "webhook" can be triggered.'
        )
    within(current_app.config["DOCUMENT_MAX_BYTES"])  # the input is stored like a document
    payload = json_body() if request.get_data(cache=True) else None
    run = Document.create(
        project=g.access.project,
        collection="flow-runs",
        body={"flow_id": str(flow.id), "trigger": trigger, "status": "queued", "input": payload},
        created_by=g.principal.user_id,
    )
    return _created(run)


def _documents(collection: str):
    return (
        Document.select(Document, User.username.alias("creator"))
        .join(User, JOIN.LEFT_OUTER)
        .where((Document.project == g.access.project) & (Document.collection == collection))
        .objects()
    )


def _document(row: Document) -> dict:
    return document(row, row.creator)


_one_document = Prepared(
    lambda project, collection, doc_id: (
        Document.select(*Document._meta.sorted_fields, User.username.alias("creator"))
        .join(User, JOIN.LEFT_OUTER)
        .where(
            (Document.project == project)
            & (Document.collection == collection)
            & (Document.id == doc_id)
        )
    ),
    "project",
    "collection",
    "doc_id",
)


def _find(collection: str, doc_id: str) -> Document:
    try:
        key = uuid.UUID(doc_id)
    except ValueError:
        key = None
    row = key and _one_document.first(
        project=g.access.project.id, collection=collection, doc_id=key.hex
    )
    if not row:
        raise Problem(404, "Not Found", f"No document {doc_id!r} in {collection}.")
    creator = row.pop("creator")
    doc = Document(**row)
    doc.creator = creator
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


def _merge(target: dict, patch: dict) -> dict:
    merged = dict(target)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def _save(doc: Document, body: dict):
    doc.body = body
    doc.updated_at = now()
    doc.save(only=[Document.body, Document.updated_at])
    return jsonify(_document(doc))


def _created(doc: Document):
    doc.creator = g.principal.username
    response = jsonify(_document(doc))
    response.status_code = 201
    response.headers["Location"] = (
        f"{request.root_path}/api/v1/projects/{g.access.project.slug}/{doc.collection}/{doc.id}"
    )
    return response


def _membership(username: str):
    membership = projects.membership_of(g.access.project, username)
    if membership is None:
        raise Problem(404, "Not Found", f"{username!r} is not a member of this project.")
    membership.project = g.access.project
    return membership


def _actor() -> User:
    return User.get_by_id(g.principal.user_id)


def _query_int(name: str, default: int, low: int, high: int) -> int:
    try:
        return query_int(name, default, low, high)
    except BadQuery as exc:
        raise exc.problem() from None


def _conflict_or_invalid(exc: projects.ProjectError, field: str) -> Problem:
    if isinstance(exc, projects.ProjectConflict):
        return Problem(409, "Conflict", str(exc), kind="conflict")
    return invalid([{"field": field, "message": str(exc)}])
