"""A project's members: every member sees them; owners add, change and remove."""

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from peewee import Case

from .. import accounts
from .. import projects
from .. import service_accounts
from ..models import Membership
from ..models import User
from . import bp
from .changes import attempt
from .forms import ActionForm
from .forms import AddMemberForm
from .forms import RoleForm
from .forms import ServiceAccountForm
from .listing import Listing
from .projects import membership_or_404


def _owners_form(slug: str, member_id: int, form) -> tuple[Membership, Membership]:
    """An owner's form about one member: the owner's membership and the member's
    (404 for either unknown, 403 for a non-owner, 400 for a form without its CSRF token)."""
    mine = membership_or_404(slug, owner=True)
    membership = projects.members(mine.project).where(Membership.id == member_id).first()
    if membership is None:
        abort(404)
    if not form.validate_on_submit():
        abort(400)
    return mine, membership


MEMBER_SORTS = {
    "username": (User.username,),
    "role": (Case(Membership.role, (("owner", 0), ("editor", 1)), 2), User.username),
    "joined": (Membership.created_at.desc(), User.username),
}


def _page(mine: Membership, form=None, status=200, service_form=None):
    listing = Listing.from_request(MEMBER_SORTS, per_page=50)
    members, more = listing.page_of(
        listing.search(projects.members(mine.project), User.username), MEMBER_SORTS
    )
    return (
        render_template(
            "projects/members.html",
            project=mine.project,
            mine=mine,
            members=members,
            listing=listing,
            more=more,
            sorts={"username": "username", "role": "role", "joined": "newest first"},
            form=form or AddMemberForm(formdata=None),
            service_form=service_form or ServiceAccountForm(formdata=None),
            role_form=RoleForm(formdata=None),
            action=ActionForm(formdata=None),
        ),
        status,
    )


def _actor():
    return current_user._get_current_object()


def _refused(mine: Membership, exc: projects.ProjectError, sent, name=None, **forms):
    """The page again with the domain's refusal of the form `sent`: 409 for a conflict,
    else 400; a fault of the name itself beside `name` (its field), the rest above it."""
    conflict = isinstance(exc, projects.ProjectConflict)
    if name is not None and exc.field == "username" and not conflict:
        name.errors.append(str(exc))
    else:
        sent.form_errors.append(str(exc))
    return _page(mine, status=409 if conflict else 400, **forms)


def _back(slug: str):
    return redirect(url_for("web.project_members", slug=slug))


@bp.get("/projects/<slug>/members")
@login_required
def project_members(slug: str):
    return _page(membership_or_404(slug))


@bp.post("/projects/<slug>/members")
@login_required
def add_member(slug: str):
    mine = membership_or_404(slug, owner=True)
    form = AddMemberForm()
    if not form.validate_on_submit():
        return _page(mine, form, 400)
    user = accounts.find_user(form.username.data)
    if user is None or not user.is_active:
        form.username.errors.append("No active user has that username.")
        return _page(mine, form, 400)
    try:
        projects.add_member(mine.project, user, form.role.data, actor=_actor())
    except projects.ProjectError as exc:
        return _refused(mine, exc, form, form=form)
    flash(f"Added {user.username} as {form.role.data}.", "success")
    return _back(slug)


@bp.post("/projects/<slug>/members/service-accounts")
@login_required
def add_service_account(slug: str):
    mine = membership_or_404(slug, owner=True)
    form = ServiceAccountForm()
    if not form.validate_on_submit():
        return _page(mine, service_form=form, status=400)
    try:
        user = service_accounts.add(
            mine.project,
            form.service_name.data,
            form.service_role.data,
            actor=_actor(),
        )
    except projects.ProjectError as exc:
        return _refused(mine, exc, form, name=form.service_name, service_form=form)
    flash(f"Added service account {user.username}; create its keys on the key page.", "success")
    return _back(slug)


@bp.post("/projects/<slug>/members/<int:member_id>/role")
@login_required
def change_member_role(slug: str, member_id: int):
    form = RoleForm()
    _, membership = _owners_form(slug, member_id, form)
    attempt(
        lambda: projects.change_role(membership, form.role.data, actor=_actor()),
        projects.ProjectConflict,
        f"{membership.user.username} is now {form.role.data}.",
    )
    return _back(slug)


@bp.post("/projects/<slug>/members/<int:member_id>/remove")
@login_required
def remove_member(slug: str, member_id: int):
    mine, membership = _owners_form(slug, member_id, ActionForm())
    removed = attempt(
        lambda: projects.remove_member(membership, actor=_actor()),
        projects.ProjectConflict,
        f"Removed {membership.user.username}.",
    )
    if removed and membership.id == mine.id:
        return redirect(url_for("web.index"))
    return _back(slug)
