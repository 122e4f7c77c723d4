"""The OpenAPI 3.1 description and the docs page that renders it (issue 5)."""

import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tokenapp.api.openapi import OPERATIONS


@pytest.fixture
def spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_spec_is_valid_openapi_3_1_without_a_credential(spec):
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_every_api_route_is_described(app, spec):
    missing = []
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1") or rule.rule == "/healthz"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method.lower() not in spec["paths"].get(path, {}):
                missing.append(f"{method} {path} ({rule.endpoint})")
    assert not missing, "add these to OPERATIONS in tokenapp/api/openapi.py: " + ", ".join(missing)
    api = {r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1")}
    assert api <= set(OPERATIONS)


def test_every_operation_declares_its_errors_as_problem_json(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if operation.get("security") == []:
                continue
            assert {"400", "401", "403"} <= codes, f"{method} {path}"
            if "requestBody" in operation:
                assert {"413", "415", "422"} <= codes, f"{method} {path}"
    for code in ("400", "401", "403", "404", "409", "413", "415", "422"):
        content = spec["components"]["responses"][code]["content"]
        assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    problem = spec["components"]["schemas"]["Problem"]
    assert "errors" in problem["properties"]


def test_bodies_follow_the_catalogue_and_the_contract(app, spec):
    catalogue = app.extensions["tokenapp.scopes"]
    schemas = spec["components"]["schemas"]
    create = schemas["TokenCreate"]
    assert create["additionalProperties"] is False
    assert set(create["required"]) == {"expiration", "scopes", "note"}
    expiration = create["properties"]["expiration"]
    assert expiration["type"] == ["integer", "null"]
    assert (expiration["minimum"], expiration["maximum"]) == (1, 3650)
    note = create["properties"]["note"]
    assert (note["minLength"], note["maxLength"]) == (1, 255)
    assert create["properties"]["scopes"]["items"]["enum"] == catalogue.scope_strings
    collection = spec["paths"]["/api/v1/projects/{project}/{collection}"]["get"]["parameters"][1]
    assert collection["schema"]["enum"] == [e for e in catalogue.entities if e != "users"]


def test_keys_are_described_as_answered_with_their_limits_rule(
    client, spec, make_user, make_project, make_token
):
    """The Key schema names every field a key answer has (`expiration` too), and the key
    routes that make or change a key say the limits rule and its 403 (issue 12)."""
    owner = make_user()
    make_project("acme", owner=owner)
    every = ["automation", "company", "connector_auth", "connectors", "dashboard", "embed"]
    _, pat = make_token(every, user=owner, days=30)
    made = client.post(
        "/api/v1/projects/acme/keys",
        json={"kind": "full", "label": "ci"},
        headers={"Authorization": f"Bearer {pat}"},
    ).get_json()
    key = spec["components"]["schemas"]["Key"]
    assert set(key["required"]) == set(key["properties"]) == set(made) - {"key"}
    paths = spec["paths"]
    one = paths["/api/v1/projects/{project}/keys/{key_id}"]
    regenerate = paths["/api/v1/projects/{project}/keys/{key_id}/regenerate"]["post"]
    for operation in (paths["/api/v1/projects/{project}/keys"]["post"], one["patch"], regenerate):
        assert "refused_by: limits" in operation["description"], operation["operationId"]
        assert "403" in operation["responses"]
    assert "limits" in spec["components"]["responses"]["403"]["description"]


def test_both_security_schemes_and_public_routes(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert "Loco" in schemes["bearer"]["description"]
    assert schemes["key"] == {**schemes["key"], "type": "apiKey", "in": "query", "name": "key"}
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert spec["paths"]["/api/v1/openapi.json"]["get"]["security"] == []


def test_docs_page_loads_its_viewer_from_static_only(app, client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert not re.search(r"https?://", html), "the docs page must not load from outside the app"
    assert "<script>" not in html  # the CSP allows no inline script
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        with client.get(asset) as served:
            assert served.status_code == 200, asset
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    static = Path(app.static_folder)
    assert (static / "vendor" / "swagger-ui" / "LICENSE").is_file()


def test_spec_is_public_but_the_rest_of_the_api_is_not(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/projects").status_code == 401


def test_no_query_parameter_admits_a_nul_the_app_refuses(spec, client, make_token):
    # transport.refuse_nul answers any NUL in a query string 400: a schema that admits one
    # makes the fuzzer send "valid" requests the app must refuse (make fuzz found ?explain=%00).
    admitting = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for param in operation.get("parameters", []):
                schema = param.get("schema", {})
                if param["in"] != "query" or schema.get("type") != "string":
                    continue
                if "enum" in schema or "format" in schema:
                    continue
                if re.search(schema.get("pattern", ""), "\x00") is not None:
                    admitting.append(f"{method.upper()} {path} ?{param['name']}")
    assert admitting == []
    _, secret = make_token(["dashboard:view"])
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/auth/verify?explain=%00", headers=headers).status_code == 400
