"""Projects and their members; the last owner always stays."""

import re

from peewee import IntegrityError

from . import audit
from . import db
from . import fields
from . import lifecycle
from .db import database
from .models import ROLES
from .models import Credential
from .models import Membership
from .models import Project
from .models import User

SLUG = re.compile(rf"[a-z0-9](?:[a-z0-9-]{{0,{fields.SLUG.high - 2}}}[a-z0-9])?")


class ProjectError(ValueError):
    """A request about projects that cannot be honoured; the message says why (and `field`,
    when given, names the request's field at fault)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class ProjectConflict(ProjectError):
    """The request clashes with the current state (taken slug, last owner...)."""


def create(slug: str, name: str | None, owner: User) -> Project:
    slug = (slug or "").strip().lower()
    if not SLUG.fullmatch(slug):
        raise ProjectError(
            "Slugs are 1-64 lower-case letters, digits and inner hyphens, e.g. 'billing-api'."
        )
    name = (name or slug).strip()[: fields.PROJECT_NAME.high] or slug
    try:
        with database.atomic():
            project = Project.create(slug=slug, name=name)
            Membership.create(project=project, user=owner, role="owner")
            audit.record("project.create", owner, project=slug, target=slug)
    except IntegrityError:
        raise ProjectConflict(f"The slug {slug!r} is taken.") from None
    return project


def membership(slug: str, user_id: int):
    """The one query for "the user's membership of the project at slug", with its project.

    Pages run it (404 when empty), the API and /auth/check compile it narrowed
    to the project's id and the role (access.project_for).
    """
    return (
        Membership.select(Membership, Project)
        .join(Project)
        .where((Project.slug == slug) & (Membership.user == user_id))
    )


def find(slug: str) -> Project | None:
    """The project at slug, whoever asks (an admin's pages); members ask `membership`."""
    return Project.get_or_none(Project.slug == slug)


def visible_to(user_id: int):
    return (
        Project.select(Project, Membership.role)
        .join(Membership)
        .where(Membership.user == user_id)
        .order_by(Project.slug)
    )


def members(project: Project):
    return (
        Membership.select(Membership, User)
        .join(User)
        .where(Membership.project == project)
        .order_by(User.username)
    )


def _check_role(role: str, user: User) -> None:
    if role not in ROLES:
        raise ProjectError(f"Roles are {', '.join(ROLES)}; not {role!r}.", "role")
    if role == "owner" and user.is_service_account:
        # Owners manage members and keys, for people and service accounts alike: a
        # service account that could do that would manage, and outlive, its owners.
        raise ProjectConflict("A service account is an editor or a viewer, never an owner.", "role")


def _check_project(project: Project, user: User) -> None:
    if user.service_project_id not in (None, project.id):
        raise ProjectConflict(
            f"{user.username} is a service account of another project; it joins no other.",
            "username",
        )


def _hold(project_id: int, actor: User | None) -> None:
    """Lock the project for this transaction: its member changes run one at a time.

    Under the lock the actor is checked again (an owner demoted or removed
    meanwhile, or an admin no longer one, no longer decides), and callers read
    the membership they change afresh: a check on a row read before the lock
    checks the past.
    """
    db.locked(Project, project_id)
    if actor is not None and not _may_manage(actor.id, project_id):
        raise ProjectConflict("Only owners (or administrators) change members; you no longer are.")


def _may_manage(user_id: int, project_id: int) -> bool:
    if Membership.role_of(user_id, project_id) == "owner":
        return True
    return User.select().where((User.id == user_id) & User.is_admin & User.is_active).exists()


def _current(membership: Membership) -> Membership:
    fresh = Membership.get_or_none(Membership.id == membership.id)
    if fresh is None:
        raise ProjectConflict(f"{membership.user.username} is no longer a member.")
    membership.role = fresh.role
    return membership


def add_member(project: Project, user: User, role: str, *, actor: User | None = None) -> Membership:
    _check_project(project, user)
    _check_role(role, user)
    try:
        with database.atomic():
            _hold(project.id, actor)
            membership = Membership.create(project=project, user=user, role=role)
            if user.is_service_account:  # back in its one project: removal had stopped it
                User.update(is_active=True).where(User.id == user.id).execute()
            audit.record(
                _action(user, "add"),
                actor,
                project=project.slug,
                target=user.username,
                detail={"role": role},
            )
    except IntegrityError:
        raise ProjectConflict(f"{user.username} is already a member of {project.slug}.") from None
    return membership


def _owners_left(project: Project, without: Membership) -> int:
    return (
        Membership.select()
        .where(
            (Membership.project == project)
            & (Membership.role == "owner")
            & (Membership.id != without.id)
        )
        .count()
    )


def _action(user: User, verb: str) -> str:
    return f"{'service_account' if user.is_service_account else 'member'}.{verb}"


def change_role(membership: Membership, role: str, *, actor: User | None = None) -> None:
    _check_role(role, membership.user)
    with database.atomic():
        _hold(membership.project_id, actor)
        _current(membership)
        if (
            membership.role == "owner"
            and role != "owner"
            and not _owners_left(membership.project, membership)
        ):
            raise ProjectConflict(
                "A project keeps at least one owner; make someone else owner first."
            )
        membership.role = role
        membership.save(only=[Membership.role])
        audit.record(
            "member.role",
            actor,
            project=membership.project.slug,
            target=membership.user.username,
            detail={"role": role},
        )


def remove_member(membership: Membership, *, actor: User | None = None) -> None:
    with database.atomic():
        _hold(membership.project_id, actor)
        _current(membership)
        if membership.role == "owner" and not _owners_left(membership.project, membership):
            raise ProjectConflict(
                "The last owner cannot be removed; make someone else owner first."
            )
        membership.delete_instance()
        user = membership.user
        audit.record(_action(user, "remove"), actor, project=membership.project.slug,
                     target=user.username)  # fmt: skip
        # Revoked, not suspended: re-adding the user (perhaps with a lower role) revives nothing.
        keys = Credential.select().where(
            (Credential.project == membership.project)
            & (Credential.user == membership.user)
            & lifecycle.CHANGEABLE
        )
        for key in keys:
            lifecycle.revoke(key, actor=actor, reason="member removed from the project")
        if user.is_service_account:  # it belongs to this project alone: it stops
            User.update(is_active=False).where(User.id == user.id).execute()


def membership_of(project: Project | int, username: str) -> Membership | None:
    return (
        Membership.select(Membership, User)
        .join(User)
        .where((Membership.project == project) & (User.username == username.strip().lower()))
        .first()
    )
