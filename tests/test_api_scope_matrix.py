"""Every scope x extension x entity x operation through the real API (issue 4).

Generated from the catalogue data (tokenapp/scopes.toml), not from a list of
routes: for each scope string one owner's PAT, then every entity and every
operation the catalogue knows for it. The expected answer is the DESIGN §4
rule applied to the data: an operation is allowed when the scope's entity
lists it and the extension allows it.
"""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import projects
from tokenapp import scopes
from tokenapp.models import Document

CATALOGUE = scopes.load(scopes.DEFAULT_FILE)
# The operations each entity has anywhere in the catalogue (flows alone run and take webhooks).
ENTITY_OPERATIONS = {
    entity: sorted(
        {op for scope in CATALOGUE.scopes.values() for op in scope.entities.get(entity, ())}
    )
    for entity in CATALOGUE.entities
}


def expected(scope_string: str, entity: str, op: str) -> bool:
    name, _, extension = scope_string.partition(":")
    entity_ops = CATALOGUE.scopes[name].entities.get(entity, frozenset())
    return op in entity_ops and op in CATALOGUE.extensions[extension]


class Seeded:
    """One project with a document per (entity, op) to act on, and spare members."""

    def __init__(self, project, owner, make_user):
        self.project = project
        self.base = f"/api/v1/projects/{project.slug}"
        self.docs = {}
        for entity in CATALOGUE.entities:
            for op in ("update", "delete"):
                self.docs[entity, op] = Document.create(
                    project=project, collection=entity, body={"n": 1}, created_by=owner
                )
        self.flow = Document.create(project=project, collection="flows", body={}, created_by=owner)
        self.webhook_flow = Document.create(
            project=project, collection="flows", body={"trigger": "webhook"}, created_by=owner
        )
        self.members = {}
        for op in ("update", "delete"):
            user = make_user(f"{op}-me")
            projects.add_member(project, user, "viewer")
            self.members[op] = user.username
        self.newcomer = make_user("newcomer").username

    def request(self, entity: str, op: str) -> tuple[str, str, dict | None]:
        """(method, url, body) that performs op on entity."""
        collection = f"{self.base}/{entity}"
        if entity == "users":
            return {
                "create": ("POST", collection, {"username": self.newcomer, "role": "viewer"}),
                "read": ("GET", collection, None),
                "update": ("PATCH", f"{collection}/{self.members['update']}", {"role": "editor"}),
                "delete": ("DELETE", f"{collection}/{self.members['delete']}", None),
            }[op]
        return {
            "create": ("POST", collection, {"name": "new"}),
            "read": ("GET", collection, None),
            "update": ("PATCH", f"{collection}/{self.docs[entity, 'update'].id}", {"n": 2}),
            "delete": ("DELETE", f"{collection}/{self.docs[entity, 'delete'].id}", None),
            "run": ("POST", f"{collection}/{self.flow.id}/runs", {}),
            "webhook": ("POST", f"{collection}/{self.webhook_flow.id}/webhook", {}),
        }[op]


@pytest.fixture
def seeded(make_user, make_project):
    owner = make_user("owner")
    return owner, Seeded(make_project("matrix", owner=owner), owner, make_user)


def call(client, secret, method, url, body):
    return client.open(url, method=method, json=body, headers=bearer(secret))


@pytest.mark.parametrize("scope_string", CATALOGUE.scope_strings)
def test_scope_allows_exactly_what_the_catalogue_says(client, make_token, seeded, scope_string):
    owner, seed = seeded
    _, secret = make_token([scope_string], user=owner)
    wrong = []
    for entity, ops in ENTITY_OPERATIONS.items():
        for op in ops:
            method, url, body = seed.request(entity, op)
            response = call(client, secret, method, url, body)
            if expected(scope_string, entity, op):
                if not 200 <= response.status_code < 300:
                    wrong.append((entity, op, "allowed", response.status_code))
                continue
            problem = response.get_json() or {}
            header = response.headers.get("WWW-Authenticate", "")
            if response.status_code != 403 or 'error="insufficient_scope"' not in header:
                wrong.append((entity, op, "refused", response.status_code))
            elif problem.get("refused_by") != "scope" or not problem.get("scope"):
                wrong.append((entity, op, "refused by scope", problem))
    assert wrong == []


@pytest.mark.backend_independent
def test_the_matrix_covers_the_whole_catalogue():
    assert len(CATALOGUE.scope_strings) == 19
    assert ENTITY_OPERATIONS["flows"] == ["create", "delete", "read", "run", "update", "webhook"]
    assert len(ENTITY_OPERATIONS) == 16


# Roles: the other side of effective access, with a PAT that has every scope.
ALL_SCOPES = sorted(CATALOGUE.scopes)
ROLE_ROWS = [
    ("viewer", "dashboards", "read", True),
    ("viewer", "dashboards", "create", False),
    ("viewer", "dashboards", "update", False),
    ("viewer", "dashboards", "delete", False),
    ("viewer", "flows", "run", False),
    ("viewer", "flows", "webhook", False),
    ("viewer", "users", "read", True),
    ("viewer", "users", "create", False),
    ("editor", "dashboards", "create", True),
    ("editor", "dashboards", "update", True),
    ("editor", "dashboards", "delete", True),
    ("editor", "flows", "run", True),
    ("editor", "flows", "webhook", True),
    ("editor", "users", "read", True),
    ("editor", "users", "create", False),
    ("editor", "users", "update", False),
    ("editor", "users", "delete", False),
    ("owner", "dashboards", "delete", True),
    ("owner", "flows", "run", True),
    ("owner", "users", "create", True),
    ("owner", "users", "update", True),
    ("owner", "users", "delete", True),
]


@pytest.mark.parametrize(("role", "entity", "op", "allowed"), ROLE_ROWS)
def test_role_limits_a_full_scope_token(
    client, make_token, make_user, seeded, role, entity, op, allowed
):
    _, seed = seeded
    user = make_user("actor")
    projects.add_member(seed.project, user, role)
    _, secret = make_token(ALL_SCOPES, user=user)
    response = call(client, secret, *seed.request(entity, op))
    if allowed:
        assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    else:
        problem = assert_problem(response, 403)
        assert problem["refused_by"] == "role"
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_non_member_gets_404_whatever_the_scopes(client, make_token, make_user, seeded):
    _, seed = seeded
    _, secret = make_token(ALL_SCOPES, user=make_user("stranger"))
    assert_problem(call(client, secret, *seed.request("dashboards", "read")), 404)
