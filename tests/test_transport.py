"""Requests that carry NUL characters are refused before any database sees them."""

import pytest
from conftest import assert_problem
from conftest import bearer


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/%00",
        "/api/v1/projects/acme/dashboards?cursor=%00",
        "/api/v1/auth/check?project=a%00b",
    ],
)
def test_api_refuses_nul_with_a_problem(client, make_token, path):
    _, secret = make_token()
    assert_problem(client.get(path, headers=bearer(secret)), 400)


def test_pages_refuse_nul_in_paths_and_forms(client):
    assert client.get("/projects/%00").status_code == 400
    response = client.post("/login", data={"username": "a\x00b", "password": "x"})
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)
