"""Public revocation (issue 15): POST /api/v1/credentials/revoke, no credential, no oracle."""

import json
import threading

import pytest
from conftest import assert_problem
from conftest import bearer
from conftest import within_one_minute
from deploy_support import TOKENAPP
from deploy_support import Server
from deploy_support import clean_env

from tokenapp import credentials
from tokenapp.models import AuditEvent
from tokenapp.models import RevocationNotice

REPORT = "/api/v1/credentials/revoke"


def report(client, secrets, address="192.0.2.1"):
    return client.post(REPORT, json={"credentials": secrets}, environ_base={"REMOTE_ADDR": address})


def verify(client, secret):
    return client.get("/api/v1/auth/verify", headers=bearer(secret)).status_code


def _serve(tmp_path, database_url, workers: int, **settings: str) -> Server:
    """`tokenapp serve` on its own instance folder and the test database."""
    env = clean_env(
        TOKENAPP_INSTANCE_PATH=str(tmp_path / "instance"),
        TOKENAPP_DATABASE_URL=database_url,
        **settings,
    )
    return Server(
        [TOKENAPP, "serve", "--workers", str(workers)], env=env, cwd=tmp_path, log=tmp_path / "log"
    )


def test_a_reported_live_secret_stops_and_its_owner_is_told(
    client, make_user, make_project, make_token, make_key
):
    alice = make_user("alice")
    acme = make_project("acme", owner=alice)
    token, pat = make_token(["dashboard"], user=alice)
    export_key, export = make_key(acme, alice, kind="export")
    _, kept = make_token(["dashboard"], user=alice)
    assert verify(client, pat) == verify(client, export) == 200

    response = report(client, [f"  {pat}\n", export])
    assert response.status_code == 202
    assert verify(client, pat) == verify(client, export) == 401
    assert verify(client, kept) == 200
    events = AuditEvent.select().where(AuditEvent.action == "credential.revoke")
    assert {(e.target, e.actor_id, e.actor_name) for e in events} == {
        (str(token.id), None, "public report"),
        (str(export_key.id), None, "public report"),
    }
    notices = list(RevocationNotice.select().where(RevocationNotice.user == alice.id))
    assert {n.credential_id for n in notices} == {token.id, export_key.id}
    assert all(n.delivered_at is None for n in notices)  # pending for the webhook channel


@pytest.mark.parametrize("kind", ["pat", "export", "full"])
def test_the_answer_is_the_same_whatever_the_secret(
    client, make_user, make_project, make_token, make_key, kind
):
    alice = make_user()
    project = make_project(owner=alice)
    live = make_token(user=alice)[1] if kind == "pat" else make_key(project, alice, kind=kind)[1]
    revoked = make_token(user=alice)[1]
    report(client, [revoked], address="192.0.2.9")
    answers = []
    for secrets in (
        [live],
        [revoked],  # already revoked
        [credentials.mint(kind)],  # well formed, unknown
        ["tkp_notasecret"],  # malformed
        [""],
        ["x" * 5000],
    ):
        response = report(client, secrets)
        answers.append((response.status_code, response.get_data(), sorted(response.headers.keys())))
    assert all(answer == answers[0] for answer in answers), answers
    assert answers[0][0] == 202
    assert verify(client, live) == 401
    assert live not in answers[0][1].decode()


def test_the_report_envelope_is_checked_but_needs_no_credential(client):
    assert_problem(client.post(REPORT, json={"credentials": "tkp_x"}), 422, field="credentials")
    assert_problem(client.post(REPORT, json={"credentials": []}), 422, field="credentials")
    assert_problem(client.post(REPORT, json={"credentials": ["a"] * 101}), 422, field="credentials")
    assert_problem(client.post(REPORT, json={"credentials": [1]}), 422, field="credentials")
    assert_problem(client.post(REPORT, json={"credentials": ["a"], "x": 1}), 422, field="x")
    assert_problem(client.post(REPORT, data="{", content_type="application/json"), 400)
    # A bad credential of the caller's own is not looked at.
    response = client.post(REPORT, json={"credentials": ["a"]}, headers=bearer("tkp_nope"))
    assert response.status_code == 202


def test_a_flood_of_reports_is_throttled_per_address(client, app):
    limit = app.config["PUBLIC_REVOKE_PER_MINUTE"]
    for _ in range(limit):
        assert report(client, ["x"], address="198.51.100.7").status_code == 202
    refused = report(client, ["x"], address="198.51.100.7")
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert report(client, ["x"], address="198.51.100.8").status_code == 202


def test_one_ipv6_64_is_one_address_for_the_throttle(client, app):
    # One host usually holds a whole /64 (as the sign-in throttle counts it): a new
    # address from it must not buy a new minute of reports; an IPv4-mapped one is IPv4.
    limit = app.config["PUBLIC_REVOKE_PER_MINUTE"]
    for n in range(limit):
        assert report(client, ["x"], address=f"2001:db8:7:1::{n + 1:x}").status_code == 202
    assert_problem(report(client, ["x"], address="2001:db8:7:1:ffff:1:2:3"), 429)
    assert report(client, ["x"], address="2001:db8:7:2::1").status_code == 202  # the next /64
    for _ in range(limit):
        assert report(client, ["x"], address="203.0.113.5").status_code == 202
    assert_problem(report(client, ["x"], address="::ffff:203.0.113.5"), 429)


def test_the_owner_sees_a_banner(client, auth, make_user, make_token):
    alice = make_user("alice")
    make_token(user=alice, note="grafana")
    _, pat = make_token(user=alice, note="ci deploy")
    report(client, [pat])
    auth.login("alice")
    page = client.get("/tokens").get_data(as_text=True)
    assert "reported 1 of your secrets as leaked" in page
    assert "ci deploy (access token)" in page
    assert pat not in page


@pytest.mark.server
def test_across_two_workers_the_secret_stops_at_once_and_the_throttle_is_shared(
    tmp_path, database_url, make_user, make_token
):
    _, pat = make_token(user=make_user("alice"))
    server = _serve(tmp_path, database_url, 2, TOKENAPP_PUBLIC_REVOKE_PER_MINUTE="6")
    with server:

        def post(secrets):
            body = json.dumps({"credentials": secrets}).encode()
            headers = {"Content-Type": "application/json", "Connection": "close"}
            return server.request("POST", REPORT, body=body, headers=headers)[0]

        def status(path, headers):
            return server.request("GET", path, headers={**headers, "Connection": "close"})[0]

        assert [status("/api/v1/auth/verify", bearer(pat)) for _ in range(6)] == [200] * 6
        within_one_minute()  # the throttle's six reports in one window
        assert post([pat]) == 202
        # Each request a new connection: both workers answer some, and none lets it in.
        assert [status("/api/v1/auth/verify", bearer(pat)) for _ in range(10)] == [401] * 10
        assert [post(["x"]) for _ in range(6)] == [202] * 5 + [429]


@pytest.mark.server
def test_reports_of_one_secret_at_the_same_moment_tell_its_owner_once(
    tmp_path, database_url, make_user, make_token
):
    alice = make_user("alice")
    server = _serve(tmp_path, database_url, 2, TOKENAPP_PUBLIC_REVOKE_PER_MINUTE="1000")
    with server:
        for _ in range(4):
            token, pat = make_token(user=alice)
            body = json.dumps({"credentials": [pat]}).encode()
            start = threading.Barrier(8)
            answers = []

            def post(body=body, start=start, answers=answers):
                start.wait()
                headers = {"Content-Type": "application/json"}
                answers.append(server.request("POST", REPORT, body=body, headers=headers)[0])

            posts = [threading.Thread(target=post) for _ in range(8)]
            for thread in posts:
                thread.start()
            for thread in posts:
                thread.join()
            assert answers == [202] * 8
            # One revocation: one audit event, one banner line, one webhook (on PostgreSQL
            # every report that read the row before the first revoked it did it again).
            told = RevocationNotice.select().where(RevocationNotice.credential == token.id)
            assert told.count() == 1
            revoked = AuditEvent.select().where(
                (AuditEvent.action == "credential.revoke") & (AuditEvent.target == str(token.id))
            )
            assert revoked.count() == 1


@pytest.mark.server
def test_a_chunked_body_over_the_limit_is_413(tmp_path, database_url):
    # No Content-Length: the server reads the body only up to MAX_CONTENT_LENGTH (1 MiB),
    # which must refuse it whole (413), not judge its first MiB (400, or a valid prefix).
    server = _serve(tmp_path, database_url, 1)
    padded = b'{"credentials": ["x"]}' + b" " * (2 * 1024 * 1024)  # its first MiB is JSON
    long_secret = b'{"credentials": ["' + b"a" * (2 * 1024 * 1024) + b'"]}'
    with server:
        for body in (padded, long_secret):
            conn = server.connection()
            try:
                conn.putrequest("POST", REPORT)
                conn.putheader("Content-Type", "application/json")
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                for start in range(0, len(body), 65536):
                    chunk = body[start : start + 65536]
                    conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                conn.send(b"0\r\n\r\n")
                response = conn.getresponse()
                assert response.status == 413, response.read()
                assert response.headers["Content-Type"] == "application/problem+json"
            finally:
                conn.close()


@pytest.fixture
def app_overrides():
    # The receiver listens on loopback, which webhooks may not reach by default.
    return {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}


def test_the_owner_s_webhook_hears_of_it_once(client, runner, make_user, make_token):
    from test_notices import Receiver

    receiver = Receiver()
    try:
        alice = make_user("alice")
        alice.webhook_url = receiver.url
        alice.save()
        token, pat = make_token(user=alice, note="ci deploy")
        report(client, [pat])
        result = runner.invoke(args=["notify-expiring"])
        assert result.exit_code == 0, result.output
        assert runner.invoke(args=["notify-expiring"]).exit_code == 0  # not twice
        assert receiver.bodies == [
            {
                "event": "credential.revoked",
                "reason": "public report",
                "user": "alice",
                "credential": {
                    "id": str(token.id),
                    "kind": "pat",
                    "note": "ci deploy",
                    "revoked_at": receiver.bodies[0]["credential"]["revoked_at"],
                },
            }
        ]
        assert pat not in json.dumps(receiver.bodies)
        receiver.status = 500  # a failed delivery is retried on the next run
        _, other = make_token(user=alice)
        report(client, [other])
        assert runner.invoke(args=["notify-expiring"]).exit_code == 1
        receiver.status = 204
        assert runner.invoke(args=["notify-expiring"]).exit_code == 0
        assert len(receiver.bodies) == 3
    finally:
        receiver.close()
