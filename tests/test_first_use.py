"""Rotation that ends on first use (issue 15): `"grace_until_first_use": true` on regenerate.

The old secret works until the new one's first request, then never again, on
every worker and node: the end is written to the database by the auth lookup.
"""

import json
import os

import pytest
from conftest import bearer
from deploy_support import TOKENAPP
from deploy_support import Server
from deploy_support import clean_env
from test_web_keys import SECRET
from test_web_keys import html
from test_web_keys import post_form

from tokenapp.models import AuditEvent

VERIFY = "/api/v1/auth/verify"
EVERY = ["automation", "company", "connector_auth", "connectors", "dashboard", "embed"]


def verify(client, secret):
    return client.get(VERIFY, headers=bearer(secret)).status_code


def test_a_token_s_old_secret_works_until_the_new_one_is_used(client, make_user, make_token):
    alice = make_user("alice")
    token, old = make_token(["dashboard"], user=alice)
    _, manager = make_token(["dashboard"], user=alice)
    response = client.post(
        f"/api/v1/personal-access-tokens/{token.id}/regenerate",
        json={"expiration": None, "grace_until_first_use": True},
        headers=bearer(manager),
    )
    assert response.status_code == 200
    assert response.json["previous_secret_expires_at"] is not None  # the 7-day ceiling
    new = response.json["token"]
    assert [verify(client, old) for _ in range(3)] == [200] * 3
    assert verify(client, new) == 200  # the first use
    assert verify(client, old) == 401
    assert verify(client, new) == 200
    shown = client.get(f"/api/v1/personal-access-tokens/{token.id}", headers=bearer(manager))
    assert shown.json["previous_secret_expires_at"] is None
    assert AuditEvent.get(AuditEvent.action == "credential.grace_end").target == str(token.id)


def test_a_full_key_over_the_api_and_the_ceiling(
    client, clock, app, make_user, make_project, make_key, make_token
):
    app.config["CLOCK"] = clock
    alice = make_user("alice")
    acme = make_project("acme", owner=alice)
    key, old = make_key(acme, alice)
    _, pat = make_token(EVERY, user=alice)
    url = f"/api/v1/projects/acme/keys/{key.id}/regenerate"
    body = {"grace": 1, "grace_until_first_use": True}
    new = client.post(url, json=body, headers=bearer(pat)).json["key"]
    assert verify(client, old) == 200
    clock.advance(days=1, seconds=1)  # never used: the ceiling still ends it
    assert verify(client, old) == 401
    assert verify(client, new) == 200


def test_a_second_regeneration_makes_the_waiting_secret_an_old_one(client, make_user, make_token):
    alice = make_user("alice")
    token, first = make_token(["dashboard"], user=alice)
    url = f"/api/v1/personal-access-tokens/{token.id}/regenerate"
    body = {"expiration": None, "grace": 2, "grace_until_first_use": True}
    second = client.post(url, json=body, headers=bearer(first)).json["token"]
    third = client.post(url, json={"expiration": None, "grace": 2}, headers=bearer(first)).json[
        "token"
    ]
    assert verify(client, second) == 200  # no longer the one whose use ends the grace
    assert verify(client, first) == 200
    assert verify(client, third) == 200


@pytest.mark.parametrize("value", [1, "true", None])
def test_grace_until_first_use_is_a_boolean(client, make_user, make_token, value):
    token, secret = make_token(["dashboard"], user=make_user())
    response = client.post(
        f"/api/v1/personal-access-tokens/{token.id}/regenerate",
        json={"expiration": None, "grace_until_first_use": value},
        headers=bearer(secret),
    )
    assert response.status_code == 422


def test_on_the_token_page(client, auth, make_user, make_token):
    alice = make_user("alice")
    token, old = make_token(["dashboard"], user=alice)
    auth.login("alice")
    detail = f"/tokens/{token.id}"
    assert "first used" in html(client.get(detail))
    data = {"expiry": "never", "grace": "0", "until_first_use": "y"}
    new = SECRET.search(html(post_form(client, detail, f"{detail}/regenerate", data))).group(0)
    assert verify(client, old) == 200
    assert verify(client, new) == 200
    assert verify(client, old) == 401


def test_on_the_key_page(client, auth, make_user, make_project, make_key):
    alice = make_user("alice")
    acme = make_project("acme", owner=alice)
    key, old = make_key(acme, alice)
    auth.login("alice")
    detail = f"/projects/acme/keys/{key.id}"
    data = {"grace": "2", "until_first_use": "y"}
    new = SECRET.search(html(post_form(client, detail, f"{detail}/regenerate", data))).group(0)
    assert verify(client, old) == 200
    assert verify(client, new) == 200
    assert verify(client, old) == 401


def _regenerate(server, token_id, secret):
    body = json.dumps({"expiration": None, "grace_until_first_use": True}).encode()
    headers = {**bearer(secret), "Content-Type": "application/json"}
    status, _, data = server.request(
        "POST", f"/api/v1/personal-access-tokens/{token_id}/regenerate", body=body, headers=headers
    )
    assert status == 200, data
    return json.loads(data)["token"]


def _statuses(servers, secret, times=8):
    return [
        servers[i % len(servers)].request("GET", VERIFY, headers=bearer(secret))[0]
        for i in range(times)
    ]


def _serve(tmp_path, name, database_url, **extra):
    env = clean_env(
        TOKENAPP_INSTANCE_PATH=str(tmp_path / name), TOKENAPP_DATABASE_URL=database_url, **extra
    )
    return Server(
        [TOKENAPP, "serve", "--workers", "2"], env=env, cwd=tmp_path, log=tmp_path / f"{name}.log"
    )


@pytest.mark.server
def test_across_two_workers(tmp_path, database_url, make_user, make_token):
    token, old = make_token(["dashboard"], user=make_user())
    with _serve(tmp_path, "a", database_url) as server:
        new = _regenerate(server, token.id, old)
        # Each request is a new connection: both sync workers answer some of them.
        assert _statuses([server], old) == [200] * 8
        assert _statuses([server], new, 1) == [200]
        assert _statuses([server], old, 10) == [401] * 10
        assert _statuses([server], new) == [200] * 8


@pytest.mark.server
@pytest.mark.skipif(
    not os.environ.get("TOKENAPP_TEST_BACKEND") == "postgresql",
    reason="two nodes share a PostgreSQL database (TOKENAPP_TEST_BACKEND=postgresql)",
)
def test_across_two_nodes_on_postgresql(tmp_path, database_url, make_user, make_token):
    token, old = make_token(["dashboard"], user=make_user())
    key = {"TOKENAPP_SECRET_KEY": "k" * 64}
    with (
        _serve(tmp_path, "a", database_url, **key) as a,
        _serve(tmp_path, "b", database_url, **key) as b,
    ):
        new = _regenerate(a, token.id, old)
        assert _statuses([a, b], old) == [200] * 8
        assert _statuses([b], new, 1) == [200]  # first used on node B
        assert _statuses([a, b], old, 10) == [401] * 10  # node A stops it too, at once
        assert _statuses([a, b], new) == [200] * 8
