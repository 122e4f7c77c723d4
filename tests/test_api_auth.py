"""One authentication layer: carriers, kinds, RFC 6750 answers, HTTPS, key lifetimes."""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import accounts
from tokenapp import credentials
from tokenapp import lifecycle
from tokenapp import projects
from tokenapp.models import Credential

VERIFY = "/api/v1/auth/verify"
KINDS = ["pat", "export", "full"]
TYPE_NAMES = {"pat": "personal_access_token", "export": "export_key", "full": "full_key"}


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def project(make_project, owner):
    return make_project("alpha", owner=owner)


@pytest.fixture
def issue(make_token, make_key, owner, project):
    """A secret of `kind` belonging to the owner (keys in project alpha)."""

    def make(kind, user=None):
        if kind == "pat":
            return make_token(["dashboard", "automation"], user=user or owner)
        return make_key(project, user or owner, kind)

    return make


def carry(carrier: str, secret: str) -> dict:
    """Request arguments that carry secret the way carrier does."""
    if carrier == "bearer":
        return {"headers": {"Authorization": f"Bearer {secret}"}}
    if carrier == "loco":
        return {"headers": {"Authorization": f"Loco {secret}"}}
    return {"query_string": {"key": secret}}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("carrier", ["bearer", "loco", "query"])
def test_every_carrier_accepts_every_kind(client, issue, carrier, kind):
    credential, secret = issue(kind)
    response = client.get(VERIFY, **carry(carrier, secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["user"]["username"] == "owner"
    assert body["credential"]["id"] == str(credential.id)
    assert body["credential"]["type"] == TYPE_NAMES[kind]
    assert body["credential"]["read_only"] is (kind == "export")
    assert (body["project"] is None) is (kind == "pat")


def test_scheme_name_is_case_insensitive(client, issue):
    _, secret = issue("pat")
    response = client.get(VERIFY, headers={"Authorization": f"bearer {secret}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("header_kind", "query_kind"),
    [("pat", "full"), ("full", "export"), ("export", "pat")],
)
def test_two_different_secrets_in_one_request_are_a_400(client, issue, header_kind, query_kind):
    _, first = issue(header_kind)
    _, second = issue(query_kind)
    response = client.get(VERIFY, headers=bearer(first), query_string={"key": second})
    assert_problem(response, 400)


def test_two_different_query_keys_are_a_400(client, issue):
    _, first = issue("pat")
    _, second = issue("pat")
    response = client.get(f"{VERIFY}?key={first}&key={second}")
    assert_problem(response, 400)


def test_the_same_secret_twice_is_accepted(client, issue):
    _, secret = issue("full")
    response = client.get(VERIFY, headers=bearer(secret), query_string={"key": secret})
    assert response.status_code == 200


@pytest.mark.parametrize("blank", ["", " ", "%20%09", "+"], ids=["empty", "space", "tab", "plus"])
def test_a_blank_query_key_is_no_credential(client, issue, blank):
    _, secret = issue("pat")
    response = client.get(f"{VERIFY}?key={blank}", headers=bearer(secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    response = client.get(f"{VERIFY}?key={blank}&key={secret}")
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_blank_query_key_alone_is_a_missing_credential(client):
    response = client.get(f"{VERIFY}?key=%20")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tokenapp"'


def test_a_query_key_is_read_without_surrounding_whitespace(client, issue):
    _, secret = issue("export")
    response = client.get(f"{VERIFY}?key=%20{secret}%20", headers=bearer(secret))
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}],
    ids=["none", "other-scheme", "empty-bearer"],
)
def test_missing_credential_is_401_with_a_bare_challenge(client, headers):
    response = client.get(VERIFY, headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="tokenapp"'


def _revoke(credential, user):
    lifecycle.revoke(credential)


def _deactivate(credential, user):
    accounts.set_active(user, False)


def _forget(credential, user):
    Credential.delete().where(Credential.id == credential.id).execute()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "spoil", [_revoke, _deactivate, _forget], ids=["revoked", "deactivated", "unknown"]
)
def test_spoiled_credential_is_401_invalid_token(client, issue, make_user, kind, spoil, project):
    user = make_user()
    projects.add_member(project, user, "editor")
    credential, secret = issue(kind, user)
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    spoil(credential, user)
    response = client.get(VERIFY, headers=bearer(secret))
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="tokenapp", ')
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "secret",
    ["not-a-secret", "tkp_short", credentials.mint("pat")[:-1] + "!"],
    ids=["garbage", "short", "bad-alphabet"],
)
def test_malformed_secret_is_401_invalid_token(client, secret):
    response = client.get(VERIFY, headers=bearer(secret))
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_expired_token_is_refused_at_the_moment_it_passes(app, client, clock, make_token):
    app.config["CLOCK"] = clock
    _, secret = make_token(["dashboard"], days=7)
    clock.advance(days=7, seconds=-1)
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    clock.advance(seconds=1)
    response = client.get(VERIFY, headers=bearer(secret))
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("kind", KINDS)
def test_flipped_checksum_is_refused_without_a_database_query(client, issue, sql_log, kind):
    _, secret = issue(kind)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    client.get(VERIFY, headers=bearer(secret))
    assert sql_log, "the counter must see the lookup of a good secret"
    sql_log.clear()
    response = client.get(VERIFY, headers=bearer(flipped))
    assert_problem(response, 401)
    assert sql_log == []


def test_insufficient_scope_is_403_naming_the_scope(client, make_token, owner, project):
    _, secret = make_token(["dashboard:view"], user=owner)
    response = client.post(
        f"/api/v1/projects/{project.slug}/dashboards", json={"a": 1}, headers=bearer(secret)
    )
    body = assert_problem(response, 403)
    assert body["scope"] == "dashboard:manage"
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="tokenapp", error="insufficient_scope", scope="dashboard:manage"'
    )


# The HTTPS rule (DESIGN §5).
REMOTE = {"REMOTE_ADDR": "10.1.2.3"}


@pytest.mark.parametrize("carrier", ["bearer", "loco", "query"])
def test_plain_http_from_another_host_is_refused(client, issue, carrier):
    _, secret = issue("pat")
    response = client.get(VERIFY, environ_base=REMOTE, **carry(carrier, secret))
    assert_problem(response, 403)


def test_plain_http_refusal_names_its_rule_like_every_403(client, issue):
    # access builds every 403 of the API: this one names the transport rule, and carries
    # no insufficient_scope challenge (the credential's scopes are not what refuses).
    _, secret = issue("pat")
    response = client.get(VERIFY, headers=bearer(secret), environ_base=REMOTE)
    assert_problem(response, 403)
    assert response.json["refused_by"] == "transport"
    assert response.json["type"].endswith("https-required")
    assert "WWW-Authenticate" not in response.headers


def test_https_from_another_host_is_accepted(client, issue):
    _, secret = issue("pat")
    response = client.get(
        VERIFY, headers=bearer(secret), environ_base=REMOTE, base_url="https://localhost"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_plain_http_from_loopback_is_accepted(client, issue, address):
    _, secret = issue("pat")
    response = client.get(VERIFY, headers=bearer(secret), environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 200


def test_allow_http_accepts_plain_http_from_anywhere(app, client, issue):
    app.config["ALLOW_HTTP"] = True
    _, secret = issue("pat")
    response = client.get(VERIFY, headers=bearer(secret), environ_base=REMOTE)
    assert response.status_code == 200


@pytest.mark.parametrize("app_overrides", [{"TRUSTED_PROXIES": ["10.0.0.0/8"]}])
@pytest.mark.parametrize(
    ("address", "accepted"),
    [("10.1.2.3", True), ("192.168.1.9", False)],
    ids=["trusted-proxy", "untrusted-peer"],
)
def test_forwarded_proto_is_honoured_only_from_trusted_proxies(client, issue, address, accepted):
    _, secret = issue("pat")
    headers = dict(bearer(secret), **{"X-Forwarded-Proto": "https"})
    response = client.get(VERIFY, headers=headers, environ_base={"REMOTE_ADDR": address})
    if accepted:
        assert response.status_code == 200
    else:
        assert_problem(response, 403)


def test_https_refusal_happens_before_any_lookup(client, issue, sql_log):
    _, secret = issue("full")
    sql_log.clear()
    response = client.get(VERIFY, headers=bearer(secret), environ_base=REMOTE)
    assert_problem(response, 403)
    assert sql_log == []


# Project keys act as their member, within their project only (DESIGN §2).
@pytest.fixture
def dashboard(ctx, project, owner):
    from tokenapp.models import Document

    return Document.create(
        project=project, collection="dashboards", body={"title": "kept"}, created_by=owner
    )


def _document_url(project, doc):
    return f"/api/v1/projects/{project.slug}/dashboards/{doc.id}"


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("POST", "collection", {"title": "new"}),
        ("PUT", "document", {"title": "replaced"}),
        ("PATCH", "document", {"title": "patched"}),
        ("DELETE", "document", None),
    ],
)
def test_export_key_writes_are_refused_and_change_nothing(
    client, issue, project, dashboard, method, target, body
):
    _, secret = issue("export")
    collection = f"/api/v1/projects/{project.slug}/dashboards"
    url = collection if target == "collection" else _document_url(project, dashboard)
    response = client.open(url, method=method, json=body, headers=bearer(secret))
    problem = assert_problem(response, 403)
    assert problem["refused_by"] == "read_only"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    listing = client.get(collection, headers=bearer(secret)).get_json()
    assert [item["title"] for item in listing["items"]] == ["kept"]
    assert listing["items"][0]["updated_at"] == listing["items"][0]["created_at"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_export_key_reads(client, issue, project, dashboard, method):
    _, secret = issue("export")
    response = client.open(_document_url(project, dashboard), method=method, headers=bearer(secret))
    assert response.status_code == 200


@pytest.mark.parametrize("kind", ["export", "full"])
@pytest.mark.parametrize(
    "path", ["", "/dashboards", "/users"], ids=["project", "documents", "members"]
)
def test_key_of_one_project_gets_404_from_another(client, issue, make_project, owner, kind, path):
    other = make_project("beta", owner=owner)
    _, secret = issue(kind)
    response = client.get(f"/api/v1/projects/{other.slug}{path}", headers=bearer(secret))
    assert_problem(response, 404)
    listed = client.get("/api/v1/projects", headers=bearer(secret)).get_json()
    assert [p["slug"] for p in listed] == ["alpha"]


@pytest.mark.parametrize("kind", ["export", "full"])
def test_removing_the_member_stops_their_keys_on_the_next_request(
    client, issue, make_user, project, kind
):
    member = make_user("member")
    membership = projects.add_member(project, member, "editor")
    _, secret = issue(kind, member)
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    projects.remove_member(membership)
    response = client.get(VERIFY, headers=bearer(secret))
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_deactivation_stops_every_credential_and_activation_restores_them(
    client, issue, make_user, project
):
    member = make_user("member")
    projects.add_member(project, member, "editor")
    secrets = [issue(kind, member)[1] for kind in KINDS]
    accounts.set_active(member, False)
    for secret in secrets:
        assert_problem(client.get(VERIFY, headers=bearer(secret)), 401)
    accounts.set_active(member, True)
    for secret in secrets:
        assert client.get(VERIFY, headers=bearer(secret)).status_code == 200


def test_a_demoted_members_key_follows_the_new_role(client, issue, make_user, project):
    member = make_user("member")
    membership = projects.add_member(project, member, "editor")
    _, secret = issue("full", member)
    url = f"/api/v1/projects/{project.slug}/dashboards"
    assert client.post(url, json={"a": 1}, headers=bearer(secret)).status_code == 201
    projects.change_role(membership, "viewer")
    body = assert_problem(client.post(url, json={"a": 2}, headers=bearer(secret)), 403)
    assert body["refused_by"] == "role"


# last_used (DESIGN §5): to the minute, not a write per request.
@pytest.mark.parametrize("kind", KINDS)
def test_last_used_appears_after_use_to_the_minute(app, client, clock, issue, kind):
    app.config["CLOCK"] = clock
    clock.advance(seconds=42)
    credential, secret = issue(kind)
    assert Credential.get_by_id(credential.id).last_used is None
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    assert Credential.get_by_id(credential.id).last_used == clock.now.replace(second=0)


def test_no_second_write_within_the_same_minute(app, client, clock, issue, sql_log):
    app.config["CLOCK"] = clock
    credential, secret = issue("pat")

    def updates():
        # On PostgreSQL the write goes as "SET LOCAL ...; UPDATE ..." (db.counter_write).
        found = [s for s in sql_log if any(_starts(part, "UPDATE") for part in s.split(";"))]
        sql_log.clear()
        return len(found)

    sql_log.clear()
    client.get(VERIFY, headers=bearer(secret))
    assert updates() == 1
    clock.advance(seconds=30)
    client.get(VERIFY, headers=bearer(secret))
    assert updates() == 0
    clock.advance(seconds=30)
    client.get(VERIFY, headers=bearer(secret))
    assert updates() == 1
    assert Credential.get_by_id(credential.id).last_used == clock.now.replace(second=0)


def _starts(statement: str, word: str) -> bool:
    return statement.lstrip().upper().startswith(word)
