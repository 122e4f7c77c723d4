"""access.rules.decide keeps its answers per (scopes, role, read-only, operations):
a change of role or membership still shows on the next request, on both paths."""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import projects
from tokenapp.models import Membership

CHECK = "/api/v1/auth/check"


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "Flask path"])
def test_check_follows_the_members_role_from_request_to_request(
    app, client, make_user, make_project, make_token, fast
):
    app.config["FAST_PATH"] = fast  # read at create_app: the Flask path is asked below
    if not fast:
        app.wsgi_app = getattr(app.wsgi_app, "inner", app.wsgi_app)
    member = make_user("member")
    project = make_project("alpha", members=[(member, "editor")])
    _, secret = make_token(["dashboard"], user=member)
    ask = {
        "query_string": {"project": "alpha", "scope": "dashboard"},
        "headers": {**bearer(secret), "X-Original-Method": "POST"},
    }
    assert client.get(CHECK, **ask).status_code == 204
    membership = Membership.get(Membership.project == project, Membership.user == member)
    projects.change_role(membership, "viewer")
    assert assert_problem(client.get(CHECK, **ask), 403)["refused_by"] == "role"
    projects.change_role(membership, "editor")
    assert client.get(CHECK, **ask).status_code == 204
    membership.delete_instance()
    assert assert_problem(client.get(CHECK, **ask), 403)["refused_by"] == "project"
