"""Projects: the list at "/", creating one, and a project's overview page."""

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import current_user
from flask_login import login_required

from .. import projects
from ..models import Membership
from . import bp
from .forms import ProjectForm


def membership_or_404(slug: str, *, owner: bool = False) -> Membership:
    """The signed-in user's membership of slug (projects.membership); 404 for
    non-members, so a project's existence is not revealed to people outside it.
    `owner`: the page is an owner's, 403 for other members."""
    membership = projects.membership(slug, current_user.id).first()
    if membership is None:
        abort(404)
    if owner and membership.role != "owner":
        abort(403)
    return membership


def _index(form=None, status=200):
    return (
        render_template(
            "projects/index.html",
            projects=projects.visible_to(current_user.id),
            form=form or ProjectForm(formdata=None),
        ),
        status,
    )


@bp.get("/")
@login_required
def index():
    return _index()


@bp.post("/projects")
@login_required
def create_project():
    form = ProjectForm()
    if not form.validate_on_submit():
        return _index(form, 400)
    try:
        project = projects.create(
            form.slug.data, form.name.data, current_user._get_current_object()
        )
    except projects.ProjectError as exc:
        form.form_errors.append(str(exc))
        return _index(form, 409 if isinstance(exc, projects.ProjectConflict) else 400)
    flash(f"Created {project.name}. You are its owner.", "success")
    return redirect(url_for("web.show_project", slug=project.slug))


def keys_url(slug: str) -> str:
    return url_for("web.project_keys", slug=slug)


@bp.get("/projects/<slug>")
@login_required
def show_project(slug: str):
    if current_user.is_admin:
        # Admins open any project (read-only here): its owners, keys and audit log.
        project = projects.find(slug) or abort(404)
        membership = projects.membership(slug, current_user.id).first()
        role = membership.role if membership else None
    else:
        membership = membership_or_404(slug)
        project, role = membership.project, membership.role
    return render_template(
        "projects/show.html",
        project=project,
        role=role,
        member_count=projects.members(project).count(),
        keys_url=keys_url(slug),
    )
