"""Projects and their data: JSON documents per collection, members, flow runs.

Every project route declares its operation with @require; the entity is the
URL's collection unless named.
"""

from flask import g
from flask import jsonify

from .. import projects
from .. import service_accounts
from ..access import PROJECT
from ..access import any_credential
from ..access import require
from ..access import visible_projects
from ..accounts import find_user
from ..errors import Problem
from ..errors import invalid
from ..fields import USERNAME
from ..models import ROLES
from ..models import Project
from ..validation import boolean
from ..validation import one_of
from ..validation import read_body
from ..validation import text
from . import acting_user
from . import bp
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
def get_project():
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
def list_members():
    return jsonify(items=[member(m) for m in projects.members(g.access.project)], next_cursor=None)


@bp.get("/projects/<project>/users/<username>")
@require("read", entity="users")
def get_member(username: str):
    return jsonify(member(_membership(username)))


@bp.post("/projects/<project>/users")
@require("create", entity="users")
def add_member():
    """Add an existing user, or with ``"service_account": true`` a new service account.

    A service account's ``username`` is a NAME; it is known as NAME@PROJECT, is an editor
    or a viewer, never signs in, and the project's owners manage its keys.
    """
    body = read_body(
        {"username": text(USERNAME.low, USERNAME.high), "role": ROLE, "service_account": boolean},
        required=("username", "role"),
    )
    try:
        if body.get("service_account"):
            user = service_accounts.add(
                g.access.project, body["username"], body["role"], actor=acting_user()
            )
            return jsonify(member(projects.membership_of(g.access.project, user.username))), 201
        user = find_user(body["username"])
        if user is None:
            raise Problem(404, "Not Found", f"No user {body['username']!r}.")
        membership = projects.add_member(g.access.project, user, body["role"], actor=acting_user())
    except projects.ProjectError as exc:
        raise _conflict_or_invalid(exc, "role") from None
    return jsonify(member(membership)), 201


@bp.route("/projects/<project>/users/<username>", methods=["PUT", "PATCH"])
@require("update", entity="users")
def change_member(username: str):
    body = read_body({"role": ROLE}, required=("role",))
    membership = _membership(username)
    try:
        projects.change_role(membership, body["role"], actor=acting_user())
    except projects.ProjectError as exc:
        raise _conflict_or_invalid(exc, "role") from None
    return jsonify(member(membership))


@bp.delete("/projects/<project>/users/<username>")
@require("delete", entity="users")
def remove_member(username: str):
    try:
        projects.remove_member(_membership(username), actor=acting_user())
    except projects.ProjectError as exc:
        raise _conflict_or_invalid(exc, "username") from None
    return "", 204


def _membership(username: str):
    membership = projects.membership_of(g.access.project, username)
    if membership is None:
        raise Problem(404, "Not Found", f"{username!r} is not a member of this project.")
    membership.project = g.access.project
    return membership


def _conflict_or_invalid(exc: projects.ProjectError, field: str) -> Problem:
    if isinstance(exc, projects.ProjectConflict):
        return Problem(409, "Conflict", str(exc), kind="conflict")
    return invalid([{"field": exc.field or field, "message": str(exc)}])
