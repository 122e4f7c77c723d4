"""Service accounts (issue 15; GitLab's project bots, Zitadel's machine users).

A service account is a user row bound to the one project it belongs to
(``User.service_project``) with a membership there, so its keys, their access
rules and their authentication are those of every member: one auth path for
every credential. It has no usable password and never signs in
(accounts.password_matches, the session loader), holds no personal access
token (lifecycle.issue), is never an owner nor an administrator and joins no
other project (projects.py). Its project's owners add it, manage its keys
(access/keys.py) and remove it; removing it revokes its keys and deactivates it.

Its name is NAME@PROJECT, as a Google Cloud service account's is
name@project: no person's username holds "@" (accounts.USERNAME), so it never
takes a name a person will want, and it reads as what it is wherever only a
name travels (the audit log, X-Auth-User).
"""

from peewee import IntegrityError

from . import accounts
from . import projects
from .db import database
from .fields import USERNAME
from .models import Project
from .models import User

ROLES = ("editor", "viewer")  # never owner (projects._check_role)
# A password hash nothing matches (as "!" in /etc/shadow): not a bcrypt hash, and
# password_matches never reads a service account's anyway.
NO_PASSWORD = "!"  # noqa: S105  (a marker, not a password)


def username_for(project: Project, name: str) -> str:
    """NAME@PROJECT from NAME, which has a person's username's syntax.

    ProjectError naming the field for a bad NAME, and for one whose NAME@PROJECT
    is over the username limit (fields.USERNAME): what was asked for (this name in
    the project the request names) can never be, whatever the state, so it is
    invalid (422, a usage error, a form error), not a conflict.
    """
    name = (name or "").lower()
    if not accounts.USERNAME.fullmatch(name):
        raise projects.ProjectError(
            f"A service account's name is {USERNAME.low}-{USERNAME.high} letters, digits, '.', "
            f"'_' and '-', starting with a letter or digit; it is then known as "
            f"NAME@{project.slug}.",
            "username",
        )
    username = f"{name}@{project.slug}"
    if len(username) > USERNAME.high:
        room = USERNAME.high - len(f"@{project.slug}")
        raise projects.ProjectError(
            f"A username is at most {USERNAME.high} characters and {username!r} would be "
            f"{len(username)}: a service account's name in {project.slug} is at most {room} here.",
            "username",
        )
    return username


def add(project: Project, name: str, role: str, *, actor: User | None = None) -> User:
    """Add a service account to the project (audited as service_account.add).

    A name the project's service account had before it was removed brings that
    account back (projects.add_member), without its revoked keys; any other taken
    name is a conflict.
    """
    if role not in ROLES:
        raise projects.ProjectError(f"A service account is an {' or a '.join(ROLES)}.", "role")
    username = username_for(project, name)
    try:
        return _add(project, username, role, actor)
    except IntegrityError:  # the same name added at the same moment
        raise projects.ProjectConflict(f"The name {username!r} is taken.") from None


def _add(project: Project, username: str, role: str, actor: User | None) -> User:
    with database.atomic():
        user = User.get_or_none(User.username == username)
        if user is None:
            user = User.create(username=username, password_hash=NO_PASSWORD,
                               service_project=project)  # fmt: skip
        elif user.service_project_id != project.id:
            raise projects.ProjectConflict(f"The name {username!r} is taken.")
        projects.add_member(project, user, role, actor=actor)  # a member already: 409
    return user
