"""Credential kind x role x method x scope, for /auth/check and the data API (issue 12).

The expected answer is DESIGN §2 applied to the catalogue's data, written here
apart from tokenapp.access: effective access = scopes ∩ role ∩ (GET/HEAD only
for export keys); for `check` the scope names the entities and the original
method the operation. Runs on SQLite and, with TOKENAPP_TEST_BACKEND=postgresql,
on PostgreSQL.
"""

import ast
import inspect
import textwrap

import pytest
from conftest import bearer

from tokenapp import projects
from tokenapp import scopes
from tokenapp.api import PUBLIC
from tokenapp.models import Document

CATALOGUE = scopes.load(scopes.DEFAULT_FILE)
CHECK = "/api/v1/auth/check"
OPERATION = {"GET": "read", "HEAD": "read", "POST": "create", "PUT": "update"}
OPERATION |= {"PATCH": "update", "DELETE": "delete"}
METHODS = [*OPERATION, "OPTIONS"]
ROLES = ["owner", "editor", "viewer"]
# (name, kind, PAT scopes): every kind, and PATs narrow and wide.
CREDENTIALS = [
    ("pat-all", "pat", sorted(CATALOGUE.scopes)),
    ("pat-dashboard", "pat", ["dashboard"]),
    ("pat-dashboard-manage", "pat", ["dashboard:manage"]),
    ("pat-dashboard-view", "pat", ["dashboard:view"]),
    ("pat-company-view", "pat", ["company:view", "embed"]),
    ("export", "export", None),
    ("full", "full", None),
]
CHECK_SCOPES = [None, "dashboard", "dashboard:view", "dashboard:manage", "company:view", "embed"]
ENTITIES = ["dashboards", "embeds", "users"]


def scope_allows(held: list[str] | None, entity: str, op: str) -> bool:
    if held is None:
        return any(op in s.entities.get(entity, ()) for s in CATALOGUE.scopes.values())
    for string in held:
        name, _, extension = string.partition(":")
        ops = CATALOGUE.scopes[name].entities.get(entity, frozenset())
        if op in ops and op in CATALOGUE.extensions[extension]:
            return True
    return False


def role_allows(role: str, entity: str, op: str) -> bool:
    if role == "viewer":
        return op == "read"
    return role == "owner" or entity != "users" or op == "read"


def refusal(held, role, kind, entity, op) -> str | None:
    """The layer that refuses, in the order the API reports them, or None."""
    if not scope_allows(held, entity, op):
        return "scope"
    if not role_allows(role, entity, op):
        return "role"
    if kind == "export" and op != "read":
        return "read_only"
    return None


def check_expected(held, role, kind, scope: str | None, method: str) -> bool:
    op = OPERATION.get(method)
    if op is None:
        return False
    if scope is None:
        return any(refusal(held, role, kind, e, op) is None for e in CATALOGUE.entities)
    name, _, extension = scope.partition(":")
    entities = CATALOGUE.scopes[name].entities
    wanted = {(e, o) for e, ops in entities.items() for o in ops & CATALOGUE.extensions[extension]}
    wanted |= {(e, op) for e, ops in entities.items() if op in ops}
    return all(refusal(held, role, kind, e, o) is None for e, o in wanted)


@pytest.fixture
def actor(make_user, make_project, make_token, make_key):
    """A credential of `kind` whose user holds `role` in project "table"."""

    def make(kind, held, role):
        user = make_user("actor")
        if role == "owner":
            project = make_project("table", owner=user)
        else:
            project = make_project("table")
            projects.add_member(project, user, role)
        if kind == "pat":
            return project, make_token(held, user=user)[1]
        return project, make_key(project, user, kind)[1]

    return make


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "kind", "held"), CREDENTIALS, ids=[c[0] for c in CREDENTIALS])
def test_check(client, actor, name, kind, held, role):
    _, secret = actor(kind, held, role)
    wrong = []
    for scope in CHECK_SCOPES:
        query = {"project": "table", **({"scope": scope} if scope else {})}
        for method in METHODS:
            headers = {**bearer(secret), "X-Original-Method": method}
            response = client.get(CHECK, query_string=query, headers=headers)
            want = 204 if check_expected(held, role, kind, scope, method) else 403
            challenge = response.headers.get("WWW-Authenticate", "")
            if response.status_code != want or (
                want == 403 and 'error="insufficient_scope"' not in challenge
            ):
                wrong.append((scope, method, want, response.status_code))
    assert wrong == []


def _request(project, owner_of, make_user, entity, method):
    """(url, body) that performs method on entity, against fresh targets."""
    base = f"/api/v1/projects/{project.slug}/{entity}"
    if entity == "users":
        spare = make_user()
        if method == "POST":
            return base, {"username": spare.username, "role": "viewer"}
        projects.add_member(project, spare, "viewer")
        if method in ("PUT", "PATCH"):
            return f"{base}/{spare.username}", {"role": "editor"}
        return (f"{base}/{spare.username}" if method == "DELETE" else base), None
    if method in ("GET", "HEAD"):
        return base, None
    if method == "POST":
        return base, {"name": "new"}
    doc = Document.create(project=project, collection=entity, body={"n": 1}, created_by=owner_of)
    return f"{base}/{doc.id}", ({"n": 2} if method != "DELETE" else None)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "kind", "held"), CREDENTIALS, ids=[c[0] for c in CREDENTIALS])
def test_data_api(client, actor, make_user, name, kind, held, role):
    project, secret = actor(kind, held, role)
    owner = projects.members(project).where(projects.Membership.role == "owner").first().user
    wrong = []
    for entity in ENTITIES:
        for method in OPERATION:
            url, body = _request(project, owner, make_user, entity, method)
            response = client.open(url, method=method, json=body, headers=bearer(secret))
            layer = refusal(held, role, kind, entity, OPERATION[method])
            if layer is None:
                if not 200 <= response.status_code < 300:
                    wrong.append((entity, method, "allowed", response.status_code))
                continue
            problem = response.get_json(silent=True) or {"refused_by": layer}  # HEAD: no body
            challenge = response.headers.get("WWW-Authenticate", "")
            got = (response.status_code, 'error="insufficient_scope"' in challenge)
            if got != (403, True) or problem.get("refused_by") != layer:
                wrong.append((entity, method, layer, *got, problem.get("refused_by")))
    assert wrong == []


def test_every_api_route_declares_what_it_needs(app):
    undeclared = [
        endpoint
        for endpoint, view in app.view_functions.items()
        if endpoint.startswith("api.") and endpoint not in PUBLIC and not hasattr(view, "requires")
    ]
    assert undeclared == []


def test_every_handler_reads_the_arguments_it_takes(app):
    """`require` consumes the URL's project and token id (handlers read g.access, g.token):
    no handler of the API or the pages takes an argument it never reads."""
    unread = []
    for endpoint, view in app.view_functions.items():
        handler = inspect.unwrap(view)
        if not handler.__module__.startswith("tokenapp."):
            continue
        node = ast.parse(textwrap.dedent(inspect.getsource(handler))).body[0]
        names = {name.id for name in ast.walk(node) if isinstance(name, ast.Name)}
        unread += [f"{endpoint}({arg.arg})" for arg in node.args.args if arg.arg not in names]
    assert unread == []
