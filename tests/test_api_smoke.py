from conftest import assert_problem
from conftest import bearer


def test_verify_names_the_token_owner(client, make_token, make_user):
    user = make_user("alice")
    credential, secret = make_token(["dashboard:view"], user=user)
    response = client.get("/api/v1/auth/verify", headers=bearer(secret))
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["username"] == "alice"
    assert body["credential"]["id"] == str(credential.id)


def test_missing_credential_is_401_with_a_bare_challenge(client):
    response = client.get("/api/v1/auth/verify")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tokenapp"'
