"""The audit log: append-only from the app's side."""

import contextvars
import datetime

from flask import has_request_context
from flask import request

from .models import AuditEvent
from .models import User

# Who runs a CLI command ("cli:<os user>"), set by the CLI for the command's run.
# The domain passes the *target* user as actor when no signed-in user acted;
# from the command line the operator is the actor, never the target.
OPERATOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("operator", default=None)


def record(
    action: str,
    actor: User | int | None = None,
    *,
    project: str | None = None,
    target: str | None = None,
    detail: dict | None = None,
    actor_name: str | None = None,
) -> None:
    """Append one event. `target` is an id or a name, never a secret.

    A named system actor (actor None, actor_name given, e.g. "tokenapp scan")
    keeps its name; any other event of a CLI command is the operator's.
    """
    operator = OPERATOR.get()
    if operator is not None and not (actor is None and actor_name):
        actor, actor_name = None, operator
    if isinstance(actor, User):
        actor_name = actor_name or actor.username
        actor = actor.id
    elif actor is not None and actor_name is None:
        # Callers may pass only an id; the log must still say who, and keep
        # saying it after the user is gone (actor becomes NULL then).
        actor_name = User.select(User.username).where(User.id == actor).scalar()
    AuditEvent.create(
        actor=actor,
        actor_name=actor_name,
        action=action,
        project_slug=project,
        target=target,
        address=request.remote_addr if has_request_context() else None,
        detail=detail,
    )


def search(
    *,
    action: str | None = None,
    actor: str | None = None,
    project: str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
):
    """Events matching every filter given, newest first. `until` is exclusive."""
    query = AuditEvent.select()
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor_name == actor.strip().lower())
    if project:
        query = query.where(AuditEvent.project_slug == project.strip().lower())
    if since:
        query = query.where(AuditEvent.at >= since)
    if until:
        query = query.where(AuditEvent.at < until)
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def actions() -> list[str]:
    """Every action recorded so far, for the filter's choices."""
    return [
        action
        for (action,) in AuditEvent.select(AuditEvent.action)
        .distinct()
        .order_by(AuditEvent.action)
        .tuples()
    ]


def as_dict(event: AuditEvent) -> dict:
    return {
        "id": event.id,
        "at": event.at.isoformat(timespec="seconds") + "Z",
        "actor": event.actor_name,
        "action": event.action,
        "project": event.project_slug,
        "target": event.target,
        "address": event.address,
        "detail": event.detail,
    }
