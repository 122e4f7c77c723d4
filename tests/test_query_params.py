"""No query string is a 500 (issue 11, finding 10).

Every GET page and API route, found from the URL map (so a new route is
covered without being listed), gets arbitrary values for every query
parameter any route reads, and a few it does not: the answer is a 400, a 422
or a page built from a clamped value, never a 5xx.
"""

from urllib.parse import quote

import pytest
from conftest import bearer
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tokenapp import audit

# Every name read from request.args anywhere in tokenapp/, and one nobody reads.
PARAMS = (
    "page",
    "action",
    "actor",
    "project",
    "since",
    "until",
    "next",
    "key",
    "explain",
    "scope",
    "limit",
    "cursor",
    "user",
    "kind",
    "state",
    "expiring_within",
    "unused_for",
    "sort",
    "q",
    "unknown",
)
NASTY = (
    "",
    " ",
    "²",
    "١٢",
    "０",
    "-1",
    "0",
    "1.5",
    "1e9",
    "99999999999999999999",
    "9" * 5000,
    "-" + "9" * 30,
    "9999-12-31",
    "0001-01-01",
    "2030-02-30",
    "2030-1-1",
    "\x00",
    "%00",
    "\ud800",
    "NaN",
    "true",
    "embed",
    "dashboard:",
    "//evil.example",
)
VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.binary(max_size=20).map(lambda raw: raw.decode("latin-1")),
)


@pytest.fixture
def world(app, ctx, make_user, make_project, make_token, make_key, client, auth):
    """An admin who owns a project with a document, a PAT holding every scope, a session."""
    user = make_user("olive", admin=True)
    project = make_project("billing", owner=user)
    credential, secret = make_token(app.extensions["tokenapp.scopes"].scope_strings, user=user)
    doc = client.post(
        "/api/v1/projects/billing/dashboards", json={"a": 1}, headers=bearer(secret)
    ).get_json()
    audit.record("test.event", user, target="t")
    auth.login("olive")
    values = {
        "project": project.slug,
        "slug": project.slug,
        "collection": "dashboards",
        "doc_id": doc["id"],
        "token_id": str(credential.id),
        "username": "olive",
        "key_id": str(make_key(project, user, "export")[0].id),
        "fmt": "csv",
        "user_id": user.id,
    }
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        paths.append(rule.build(values, append_unknown=False)[1])
    paths.append("/admin/credentials/export.jsonl")
    return sorted(paths), secret


def _query(params: dict[str, str]) -> str:
    return "&".join(
        f"{name}={quote(value.encode('utf-8', 'surrogatepass'))}" for name, value in params.items()
    )


def _get(client, path: str, secret: str, params: dict[str, str]):
    headers = bearer(secret) if path.startswith("/api/") else {}
    return client.get(f"{path}?{_query(params)}", headers=headers)


def test_the_route_list_covers_pages_and_the_api(world):
    paths, _ = world
    assert "/audit" in paths and "/projects/billing/audit" in paths
    assert "/api/v1/projects/billing/dashboards" in paths
    assert len(paths) >= 25


def _all_params(value_strategy):
    """A value for every parameter at once; `key` only sometimes (on the API it is a 401 first)."""
    names = [name for name in PARAMS if name != "key"]
    return st.fixed_dictionaries(
        {name: value_strategy for name in names}, optional={"key": value_strategy}
    )


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_query_string_is_a_server_error(client, world, data):
    paths, secret = world
    path = data.draw(st.sampled_from(paths), label="path")
    params = data.draw(_all_params(VALUES), label="query")
    response = _get(client, path, secret, params)
    assert response.status_code < 500, (path, params, response.get_data(as_text=True)[:300])


def test_every_nasty_value_in_every_parameter_of_every_route(client, world):
    paths, secret = world
    for path in paths:
        for value in NASTY:
            for params in ({n: value for n in PARAMS if n != "key"}, {"key": value}):
                response = _get(client, path, secret, params)
                assert response.status_code < 500, (path, params)


@pytest.mark.parametrize("path", ["/audit", "/projects/billing/audit"])
@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ({"page": "99999999999999999999"}, 200, "No events"),  # clamped to the last page served
        ({"page": "²"}, 200, "test.event"),  # not a number: the first page
        ({"page": "-3"}, 200, "test.event"),
        ({"until": "9999-12-31"}, 400, "To: Enter a date from"),
        ({"since": "0001-01-01"}, 400, "From: Enter a date from"),
        ({"since": "２０３０-01-01"}, 400, "YYYY-MM-DD"),
        ({"actor": "x" * 201}, 400, "at most 200"),
    ],
)
def test_audit_pages_clamp_or_refuse_out_of_range_values(client, world, path, query, status, says):
    response = client.get(path, query_string=query)
    assert response.status_code == status
    assert says in response.get_data(as_text=True)
