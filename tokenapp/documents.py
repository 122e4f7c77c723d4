"""Project documents: the JSON data the API stores per project and collection.

Plain values in, rows out; the API (api/documents.py) checks access and shapes
requests and answers around these.
"""

import functools
import uuid

from peewee import JOIN

from . import auth
from .clock import now
from .db import from_row
from .models import Document
from .models import Project
from .models import Secret
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


def _with_secret_query(digest, slug, collection, doc_id):
    # The secret's lookup naming the project at slug (auth), and the document in it.
    doc, creator = Document.alias("doc"), User.alias("doc_creator")
    return (
        auth._lookup_in_query(digest, slug)
        .select_extend(
            *(getattr(doc, f.name).alias(f"doc_{f.name}") for f in DOC_FIELDS),
            creator.username.alias("doc_creator"),
        )
        .join(
            doc,
            JOIN.LEFT_OUTER,
            on=(doc.project == auth.ASKED.id) & (doc.collection == collection) & (doc.id == doc_id),
        )
        .join(creator, JOIN.LEFT_OUTER, on=(creator.id == doc.created_by))
    )


DOC_FIELDS = Document._meta.sorted_fields
# The read_with statement's columns of the document, and each one's name in a Document.
DOC_COLUMNS = tuple((f"doc_{name}", name) for name in [f.name for f in DOC_FIELDS] + ["creator"])
_with_secret = Prepared(
    _with_secret_query,
    convert=auth._lookup.convert,
    digest=Secret.digest,
    slug=Project.slug,
    collection=Document.collection,
    doc_id=Document.id,
)


def read_with(collection: str, doc_id: str) -> tuple:
    """For auth.principal_for: a document read in the secret's own statement (one round
    trip for a document read); `find` takes it from the principal's row."""
    return _with_secret, {"collection": collection, "doc_id": _uuid(doc_id)}


def find(
    project_id: int, collection: str, doc_id: str, looked_up: dict | None = None
) -> Document | None:
    """The document, or None. looked_up: the secret's row, as read_with(collection, doc_id)
    read it (the statement's own answer, so the same snapshot as the secret)."""
    key = _uuid(doc_id)
    if key is None:
        return None
    if looked_up is not None and looked_up["asked_project"] == project_id:
        if looked_up["doc_id"] != key or looked_up["doc_collection"] != collection:
            return None  # no such document in the project
        row = {name: looked_up[column] for column, name in DOC_COLUMNS}
    else:
        row = _one.first(project=project_id, collection=collection, doc_id=key)
    if not row:
        return None
    creator = row.pop("creator")
    # Every field comes from the row: no defaults to make (a uuid4, two now()s).
    doc = from_row(Document, row)
    doc.creator = creator
    return doc


@functools.lru_cache(maxsize=4096)  # a read parses it twice (read_with, find); a UUID is immutable
def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


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
