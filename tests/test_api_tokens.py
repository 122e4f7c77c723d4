"""Personal access tokens through the API (DESIGN §6): CRUD, regenerate, validation, limits."""

import pytest
from conftest import assert_problem
from conftest import bearer

from tokenapp import credentials

TOKENS = "/api/v1/personal-access-tokens"
VERIFY = "/api/v1/auth/verify"
ALL_SCOPES = ["automation", "company", "connector_auth", "connectors", "dashboard", "embed"]
FIELDS = {"id", "expiration", "note", "last_used", "scopes", "created_at"}
VALID = {"expiration": 30, "scopes": ["dashboard:view"], "note": "ci"}


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def headers(make_token, alice):
    """A never-expiring token of alice's with every scope."""
    return bearer(make_token(ALL_SCOPES, user=alice)[1])


@pytest.fixture
def created(client, headers):
    response = client.post(TOKENS, json=VALID, headers=headers)
    assert response.status_code == 201
    return response.get_json()


def test_create_returns_the_secret_once_with_every_field(app, client, clock, headers):
    app.config["CLOCK"] = clock
    response = client.post(TOKENS, json=VALID, headers=headers)
    assert response.status_code == 201
    body = response.get_json()
    assert FIELDS | {"token"} <= set(body)
    assert credentials.parse(body["token"]).kind == "pat"
    assert body["note"] == "ci" and body["scopes"] == ["dashboard:view"]
    assert body["created_at"] == "2030-01-01T12:00:00Z"
    assert body["expiration"] == "2030-01-31T12:00:00Z"
    assert body["last_used"] is None
    assert client.get(VERIFY, headers=bearer(body["token"])).status_code == 200


def test_null_expiration_makes_a_token_that_never_expires(client, headers):
    response = client.post(TOKENS, json=dict(VALID, expiration=None), headers=headers)
    assert response.status_code == 201
    assert response.get_json()["expiration"] is None


def test_list_and_get_never_show_a_secret(client, headers, created):
    listing = client.get(TOKENS, headers=headers)
    one = client.get(f"{TOKENS}/{created['id']}", headers=headers)
    for response in (listing, one):
        assert response.status_code == 200
        assert created["token"] not in response.get_data(as_text=True)
        assert credentials.find(response.get_data(as_text=True)) == []
    assert all("token" not in item for item in listing.get_json())
    assert created["id"] in {item["id"] for item in listing.get_json()}
    assert "token" not in one.get_json()
    assert one.get_json()["note"] == "ci"


def test_last_used_appears_after_use(client, headers, created):
    client.get(VERIFY, headers=bearer(created["token"]))
    body = client.get(f"{TOKENS}/{created['id']}", headers=headers).get_json()
    assert body["last_used"] is not None


def test_patch_changes_note_and_scopes_and_keeps_the_secret(client, headers, created):
    response = client.patch(
        f"{TOKENS}/{created['id']}",
        json={"note": "renamed", "scopes": ["embed", "dashboard"]},
        headers=headers,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert "token" not in body
    assert body["note"] == "renamed" and body["scopes"] == ["dashboard", "embed"]
    verified = client.get(VERIFY, headers=bearer(created["token"])).get_json()
    assert verified["credential"]["scopes"] == ["dashboard", "embed"]


def test_regenerate_refuses_the_old_secret_at_once(app, client, clock, headers, created):
    app.config["CLOCK"] = clock
    response = client.post(
        f"{TOKENS}/{created['id']}/regenerate", json={"expiration": 7}, headers=headers
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == created["id"] and body["token"] != created["token"]
    assert body["expiration"] == "2030-01-08T12:00:00Z"
    assert_problem(client.get(VERIFY, headers=bearer(created["token"])), 401)
    assert client.get(VERIFY, headers=bearer(body["token"])).status_code == 200


def test_regenerate_with_null_expiration_removes_the_expiry(client, headers, created):
    response = client.post(
        f"{TOKENS}/{created['id']}/regenerate", json={"expiration": None}, headers=headers
    )
    assert response.get_json()["expiration"] is None


def test_delete_revokes_at_once(client, headers, created):
    response = client.delete(f"{TOKENS}/{created['id']}", headers=headers)
    assert response.status_code == 204
    problem = assert_problem(client.get(VERIFY, headers=bearer(created["token"])), 401)
    assert "revoked" in problem["detail"]
    # Deleted means gone from the API (the web page still shows it as revoked).
    assert_problem(client.get(f"{TOKENS}/{created['id']}", headers=headers), 404)
    assert created["id"] not in {t["id"] for t in client.get(TOKENS, headers=headers).get_json()}


def test_expired_token_is_refused_at_the_moment_it_passes(app, client, clock, headers):
    app.config["CLOCK"] = clock
    secret = client.post(TOKENS, json=dict(VALID, expiration=7), headers=headers).get_json()[
        "token"
    ]
    clock.advance(days=7, seconds=-1)
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    clock.advance(seconds=1)
    response = client.get(VERIFY, headers=bearer(secret))
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# Validation (DESIGN §6): every rule, each naming its field.
MISSING = object()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expiration", MISSING),
        ("expiration", True),
        ("expiration", "7"),
        ("expiration", 7.5),
        ("expiration", 0),
        ("expiration", -1),
        ("expiration", 3651),
        ("expiration", [7]),
        ("note", MISSING),
        ("note", ""),
        ("note", "   "),
        ("note", "n" * 256),
        ("note", 5),
        ("scopes", MISSING),
        ("scopes", []),
        ("scopes", "dashboard"),
        ("scopes", ["nope"]),
        ("scopes", ["embed:webhook_run"]),
        ("scopes", ["dashboard:"]),
        ("scopes", [None]),
        ("scopes", None),
    ],
)
def test_create_refuses_each_bad_field_naming_it(client, headers, field, value):
    body = dict(VALID)
    if value is MISSING:
        del body[field]
    else:
        body[field] = value
    problem = assert_problem(client.post(TOKENS, json=body, headers=headers), 422, field=field)
    if isinstance(value, list) and value and isinstance(value[0], str):
        message = next(e["message"] for e in problem["errors"] if e["field"] == field)
        assert repr(value[0]) in message


@pytest.mark.parametrize(("days", "status"), [(1, 201), (3650, 201)])
def test_expiration_bounds_are_inclusive(client, headers, days, status):
    response = client.post(TOKENS, json=dict(VALID, expiration=days), headers=headers)
    assert response.status_code == status


@pytest.mark.parametrize("extra", [{"token": "x"}, {"id": "x"}, {"user": 1}, {"Note": "x"}])
def test_unknown_fields_are_refused(client, headers, extra):
    (name,) = extra
    assert_problem(client.post(TOKENS, json=dict(VALID, **extra), headers=headers), 422, field=name)


def test_every_bad_field_is_reported_at_once(client, headers):
    problem = assert_problem(client.post(TOKENS, json={"extra": 1}, headers=headers), 422)
    assert {e["field"] for e in problem["errors"]} == {"expiration", "note", "scopes", "extra"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"note": ""}, "note"),
        ({"note": "n" * 256}, "note"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["nope"]}, "scopes"),
        ({"expiration": 7}, "expiration"),
        ({"token": "x"}, "token"),
    ],
)
def test_patch_refuses_bad_fields_naming_them(client, headers, created, body, field):
    response = client.patch(f"{TOKENS}/{created['id']}", json=body, headers=headers)
    assert_problem(response, 422, field=field)


@pytest.mark.parametrize(
    "body",
    [{}, {"expiration": 0}, {"expiration": "7"}, {"expiration": True}, {"expiration": 3651}],
)
def test_regenerate_refuses_a_bad_expiration(client, headers, created, body):
    response = client.post(f"{TOKENS}/{created['id']}/regenerate", json=body, headers=headers)
    assert_problem(response, 422, field="expiration")
    assert client.get(VERIFY, headers=bearer(created["token"])).status_code == 200


# Who may manage which token.
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"note": "mine now"}),
        ("POST", "/regenerate", {"expiration": 7}),
        ("DELETE", "", None),
    ],
)
def test_another_users_token_is_404(client, headers, make_token, make_user, method, suffix, body):
    theirs, secret = make_token(["dashboard"], user=make_user("bob"))
    url = f"{TOKENS}/{theirs.id}{suffix}"
    assert_problem(client.open(url, method=method, json=body, headers=headers), 404)
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200


@pytest.mark.parametrize("token_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_token_id_is_404(client, headers, token_id):
    assert_problem(client.get(f"{TOKENS}/{token_id}", headers=headers), 404)


def test_another_users_tokens_are_not_listed(client, headers, make_token, make_user):
    theirs, _ = make_token(["dashboard"], user=make_user("bob"))
    assert str(theirs.id) not in {item["id"] for item in client.get(TOKENS, headers=headers).json}


@pytest.mark.parametrize(
    ("own", "wanted"),
    [
        (["dashboard:view"], ["dashboard"]),
        (["dashboard:manage"], ["dashboard"]),
        (["dashboard"], ["embed:view"]),
        (["automation:webhook_run"], ["automation:view"]),
    ],
)
def test_a_token_cannot_create_a_wider_token(client, make_token, alice, own, wanted):
    _, secret = make_token(own, user=alice)
    response = client.post(TOKENS, json=dict(VALID, scopes=wanted), headers=bearer(secret))
    problem = assert_problem(response, 403)
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert problem["scope"]


def test_a_token_can_create_a_narrower_token(app, client, clock, make_token, alice):
    app.config["CLOCK"] = clock  # the same moment, so 30 days end at the same second
    _, secret = make_token(["dashboard"], user=alice, days=30)
    body = dict(VALID, scopes=["dashboard:view"], expiration=30)
    assert client.post(TOKENS, json=body, headers=bearer(secret)).status_code == 201


def test_a_token_cannot_widen_a_token_by_patch(client, make_token, alice):
    _, secret = make_token(["dashboard"], user=alice)
    mine = client.post(TOKENS, json=VALID, headers=bearer(secret)).get_json()
    response = client.patch(
        f"{TOKENS}/{mine['id']}", json={"scopes": ["embed"]}, headers=bearer(secret)
    )
    assert_problem(response, 403)


@pytest.mark.parametrize("expiration", [31, None])
def test_a_token_cannot_create_a_longer_lived_token(client, make_token, alice, expiration):
    _, secret = make_token(ALL_SCOPES, user=alice, days=30)
    body = dict(VALID, expiration=expiration)
    response = client.post(TOKENS, json=body, headers=bearer(secret))
    # Like a wider scope: a well-formed request this credential may not make.
    assert "outlast" in assert_problem(response, 403)["detail"]


def test_a_token_may_make_one_as_long_lived_as_itself_and_no_longer(
    client, make_token, alice, app, clock
):
    app.config["CLOCK"] = clock
    parent, secret = make_token(ALL_SCOPES, user=alice, days=30)
    clock.advance(hours=5)  # "30 days" from now would end 5 hours after the parent
    body = dict(VALID, expiration=30)
    response = client.post(TOKENS, json=body, headers=bearer(secret))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["expiration"] == parent.expires_at.isoformat() + "Z"


@pytest.mark.parametrize("expiration", [31, None])
def test_a_token_cannot_regenerate_into_a_longer_lived_token(client, make_token, alice, expiration):
    _, secret = make_token(ALL_SCOPES, user=alice, days=30)
    mine = client.post(TOKENS, json=VALID, headers=bearer(secret)).get_json()
    response = client.post(
        f"{TOKENS}/{mine['id']}/regenerate", json={"expiration": expiration}, headers=bearer(secret)
    )
    assert "outlast" in assert_problem(response, 403)["detail"]


@pytest.mark.parametrize("kind", ["export", "full"])
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("POST", "", VALID),
        ("GET", "/{id}", None),
        ("PATCH", "/{id}", {"note": "x"}),
        ("POST", "/{id}/regenerate", {"expiration": 7}),
        ("DELETE", "/{id}", None),
    ],
)
def test_project_keys_cannot_manage_tokens(
    client, make_project, make_key, make_token, alice, kind, method, suffix, body
):
    mine, _ = make_token(["dashboard"], user=alice)
    _, key = make_key(make_project(owner=alice), alice, kind)
    url = TOKENS + suffix.format(id=mine.id)
    assert_problem(client.open(url, method=method, json=body, headers=bearer(key)), 403)


def test_expired_tokens_still_change_revoked_ones_are_gone(app, client, clock, headers):
    """lifecycle.changeable is the one rule: an expired token can still be changed,
    regenerated and revoked; a revoked one cannot change, and the API maps that to 404."""
    app.config["CLOCK"] = clock
    made = client.post(TOKENS, json=dict(VALID, expiration=1), headers=headers).get_json()
    clock.advance(days=2)
    url = f"{TOKENS}/{made['id']}"
    assert client.patch(url, json={"note": "expired"}, headers=headers).status_code == 200
    again = client.post(f"{url}/regenerate", json={"expiration": 30}, headers=headers)
    assert again.status_code == 200
    assert client.delete(url, headers=headers).status_code == 204
    for response in (
        client.get(url, headers=headers),
        client.patch(url, json={"note": "revoked"}, headers=headers),
        client.post(f"{url}/regenerate", json={"expiration": 30}, headers=headers),
        client.delete(url, headers=headers),
    ):
        assert_problem(response, 404)
    assert made["id"] not in client.get(TOKENS, headers=headers).get_data(as_text=True)
