"""The audit log: append-only from the app's side."""

from flask import has_request_context
from flask import request

from .models import AuditEvent
from .models import User


def record(
    action: str,
    actor: User | int | None = None,
    *,
    project: str | None = None,
    target: str | None = None,
    detail: dict | None = None,
    actor_name: str | None = None,
) -> None:
    """Append one event. `target` is an id or a name, never a secret."""
    if isinstance(actor, User):
        actor_name = actor_name or actor.username
        actor = actor.id
    AuditEvent.create(
        actor=actor,
        actor_name=actor_name,
        action=action,
        project_slug=project,
        target=target,
        address=request.remote_addr if has_request_context() else None,
        detail=detail,
    )
