"""Project documents: the JSON data the API stores per project and collection.

Plain values in, rows out; the API (api/documents.py) checks access and shapes
requests and answers around these.
"""

import uuid

from peewee import JOIN

from .clock import now
from .models import Document
from .models import Project
from .models import User
from .prepared import Prepared


def in_collection(project_id: int, collection: str):
    """A collection's documents with their creator's name (as `creator`)."""
    return (
        Document.select(Document, User.username.alias("creator"))
        .join(User, JOIN.LEFT_OUTER)
        .where((Document.project == project_id) & (Document.collection == collection))
        .objects()
    )


def page(project_id: int, collection: str, *, after: int, limit: int) -> tuple[list, bool]:
    """Up to `limit` documents after cursor `after`, oldest first, and whether more follow."""
    rows = list(
        in_collection(project_id, collection)
        .where(Document.seq > after)
        .order_by(Document.seq)
        .limit(limit + 1)
    )
    return rows[:limit], len(rows) > limit


_one = Prepared(
    lambda project, collection, doc_id: (
        Document.select(*Document._meta.sorted_fields, User.username.alias("creator"))
        .join(User, JOIN.LEFT_OUTER)
        .where(
            (Document.project == project)
            & (Document.collection == collection)
            & (Document.id == doc_id)
        )
    ),
    project=Document.project,
    collection=Document.collection,
    doc_id=Document.id,
)


def find(project_id: int, collection: str, doc_id: str) -> Document | None:
    try:
        key = uuid.UUID(doc_id)
    except ValueError:
        return None
    row = _one.first(project=project_id, collection=collection, doc_id=key)
    if not row:
        return None
    creator = row.pop("creator")
    doc = Document(**row)
    doc.creator = creator
    return doc


def create(project: Project, collection: str, body: dict, *, user_id: int, creator: str):
    doc = Document.create(project=project, collection=collection, body=body, created_by=user_id)
    doc.creator = creator
    return doc


def save(doc: Document, body: dict) -> Document:
    doc.body = body
    doc.updated_at = now()
    doc.save(only=[Document.body, Document.updated_at])
    return doc


def merge(target: dict, patch: dict) -> dict:
    """JSON merge patch (RFC 7396): null removes a field, objects merge, the rest replaces."""
    merged = dict(target)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def is_webhook_flow(flow: Document) -> bool:
    return flow.body.get("trigger") == "webhook"


def record_run(flow: Document, trigger: str, payload, *, user_id: int, creator: str) -> Document:
    """A run of the flow, queued: a document of flow-runs that names the flow and its input."""
    body = {"flow_id": str(flow.id), "trigger": trigger, "status": "queued", "input": payload}
    return create(flow.project, "flow-runs", body, user_id=user_id, creator=creator)
