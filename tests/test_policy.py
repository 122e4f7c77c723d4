"""The instance token policy: set by an admin or by configuration, held by every face."""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import policy
from tokenapp.models import AuditEvent
from tokenapp.models import Credential

TOKENS = "/api/v1/personal-access-tokens"


@pytest.fixture
def root(auth, make_user):
    user = make_user("root", admin=True)
    auth.login("root")
    return user


def _body(expiration):
    return {"expiration": expiration, "scopes": ["dashboard:view"], "note": "ci"}


def test_an_admin_sets_the_policy_and_every_face_holds_it(client, auth, root, make_token, runner):
    response = auth.post("/admin/policy", {"max_days": "30"})
    assert response.status_code == 303
    event = AuditEvent.get(AuditEvent.action == "policy.update")
    assert event.detail == {"max_token_lifetime_days": 30, "expiry_required": True}
    page = client.get("/admin/policy").get_data(as_text=True)
    assert "30 days" in page and "required" in page

    _, secret = make_token(("dashboard",), user=root)
    api = client.post(TOKENS, json=_body(90), headers=bearer(secret))
    problem = assert_problem(api, 422)
    assert problem["errors"] == [
        {"field": "expiration", "message": "This site allows tokens of at most 30 days."}
    ]
    assert_problem(client.post(TOKENS, json=_body(None), headers=bearer(secret)), 422)
    assert client.post(TOKENS, json=_body(30), headers=bearer(secret)).status_code == 201
    token_id = client.get(TOKENS, headers=bearer(secret)).get_json()[0]["id"]
    regenerate = client.post(
        f"{TOKENS}/{token_id}/regenerate", json={"expiration": None}, headers=bearer(secret)
    )
    assert_problem(regenerate, 422)

    form = {"note": "web", "expiry": "never", "custom_days": "", "scope_dashboard": "view"}
    refused = auth.post("/tokens/new", form)
    assert refused.status_code == 422
    assert "requires an expiry of at most 30 days" in refused.get_data(as_text=True)
    custom = auth.post("/tokens/new", dict(form, expiry="custom", custom_days="31"))
    assert custom.status_code == 422
    assert auth.post("/tokens/new", dict(form, expiry="30")).status_code == 201

    cli = runner.invoke(
        args=[
            "token",
            "create",
            "--user",
            "root",
            "--note",
            "x",
            "--scope",
            "embed",
            "--expiration",
            "never",
        ]
    )
    assert cli.exit_code == 2 and "at most 30 days" in cli.output
    before = Credential.select().count()
    assert before == 3  # make_token, the API's 30-day token, the page's 30-day token


def test_expiry_required_without_a_maximum(client, auth, root, make_token):
    assert auth.post("/admin/policy", {"max_days": "", "expiry_required": "y"}).status_code == 303
    _, secret = make_token(("dashboard",), user=root)
    problem = assert_problem(client.post(TOKENS, json=_body(None), headers=bearer(secret)), 422)
    assert problem["errors"][0]["message"] == "This site requires every token to expire."
    assert client.post(TOKENS, json=_body(3650), headers=bearer(secret)).status_code == 201


def test_a_bad_policy_is_explained(client, auth, root):
    response = auth.post("/admin/policy", {"max_days": "0"})
    assert response.status_code == 422
    assert "from 1 to 3650" in response.get_data(as_text=True)
    assert not policy.current().expiry_required


@pytest.mark.parametrize(
    "app_overrides", [{"MAX_TOKEN_LIFETIME_DAYS": 7, "TOKEN_EXPIRY_REQUIRED": True}]
)
def test_configuration_fixes_the_policy(client, auth, root):
    page = client.get("/admin/policy").get_data(as_text=True)
    assert "TOKENAPP_MAX_TOKEN_LIFETIME_DAYS" in page and "7 days" in page
    assert (
        auth.post("/admin/policy", {"max_days": "90"}, form_page="/admin/users").status_code == 409
    )
    assert policy.refusal(8) == "This site allows tokens of at most 7 days."


def test_non_admins_cannot_see_the_policy_page(client, auth, make_user):
    make_user("bob")
    auth.login("bob")
    assert client.get("/admin/policy").status_code == 403
