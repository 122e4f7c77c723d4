"""Expiry warnings: webhook notices once per token per threshold, and the banner."""

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

from tokenapp import lifecycle
from tokenapp import notices
from tokenapp.models import ExpiryNotice


class Receiver:
    """A webhook receiver on 127.0.0.1: records each JSON body it gets (and Host header).

    With an SSL context it speaks HTTPS, and its URL names localhost.
    """

    def __init__(self, context: ssl.SSLContext | None = None):
        self.bodies = []
        self.hosts = []
        self.status = 204
        self.headers: dict[str, str] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.hosts.append(self.headers["Host"])
                self.send_response(receiver.status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://localhost:{port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def app_overrides():
    # The receivers here listen on loopback, which webhooks may not reach by default.
    return {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hooked(ctx, clock, make_user, receiver):
    """A user whose webhook is the receiver, on the test clock."""
    ctx.config["CLOCK"] = clock
    user = make_user("alice")
    user.webhook_url = receiver.url
    user.save()
    return user


def _thresholds(receiver):
    return [body["threshold_days"] for body in receiver.bodies]


def test_one_notice_per_threshold_even_when_run_twice(hooked, clock, make_token, receiver):
    credential, _ = make_token(user=hooked, days=10, note="deploy")
    assert notices.notify_expiring().delivered == 0
    clock.advance(days=3, hours=12)  # 6.5 days left
    assert notices.notify_expiring().delivered == 1
    assert notices.notify_expiring().delivered == 0
    clock.advance(days=6)  # 12 hours left
    assert notices.notify_expiring().delivered == 1
    assert notices.notify_expiring().delivered == 0
    clock.advance(hours=13)  # expired: nothing more
    assert notices.notify_expiring().delivered == 0
    assert _thresholds(receiver) == [7, 1]
    first = receiver.bodies[0]
    assert first["event"] == "token.expiring"
    assert first["user"] == "alice"
    assert first["token"] == {
        "id": str(credential.id),
        "note": "deploy",
        "expires_at": "2030-01-11T12:00:00Z",
    }


def test_a_token_made_with_a_day_left_gets_one_notice_not_two(hooked, make_token, receiver):
    make_token(user=hooked, days=1)
    assert notices.notify_expiring().delivered == 1
    assert notices.notify_expiring().delivered == 0
    assert _thresholds(receiver) == [1]


def test_the_unique_row_lets_only_one_node_send(hooked, make_token):
    credential, _ = make_token(user=hooked, days=5)
    assert notices._claim(credential, 7) is True
    assert notices._claim(credential, 7) is False  # the other node loses the insert
    assert notices.due() == []


def test_a_failed_delivery_is_retried_on_the_next_run(hooked, make_token, receiver):
    make_token(user=hooked, days=5)
    receiver.status = 500
    assert notices.notify_expiring().delivered == 0
    assert ExpiryNotice.select().count() == 0
    receiver.status = 204
    assert notices.notify_expiring().delivered == 1
    assert _thresholds(receiver) == [7, 7]  # the failed attempt, then the delivered one


def test_no_notice_without_a_webhook_or_for_revoked_and_far_tokens(
    hooked, make_user, make_token, receiver
):
    make_token(user=make_user(), days=3)  # no webhook URL
    revoked, _ = make_token(user=hooked, days=3)
    lifecycle.revoke(revoked)
    make_token(user=hooked, days=30)
    make_token(user=hooked, days=None)
    assert notices.notify_expiring().delivered == 0
    assert receiver.bodies == []


def test_an_unreachable_webhook_does_not_stop_the_others(hooked, make_user, make_token, receiver):
    other = make_user("bob")
    other.webhook_url = "http://127.0.0.1:9/nothing-listens"
    other.save()
    make_token(user=other, days=2)
    make_token(user=hooked, days=2)
    assert notices.notify_expiring().delivered == 1
    assert [body["user"] for body in receiver.bodies] == ["alice"]


def test_cli_notify_expiring_sends_and_says_how_many(runner, hooked, make_token, receiver):
    make_token(user=hooked, days=3)
    result = runner.invoke(args=["notify-expiring"])
    assert result.exit_code == 0, result.output
    assert "Sent 1 expiry notice" in result.stderr
    assert runner.invoke(args=["notify-expiring"]).exit_code == 0
    assert len(receiver.bodies) == 1


def test_banner_after_login_lists_tokens_expiring_within_7_days(
    client, auth, ctx, clock, make_user, make_token
):
    ctx.config["CLOCK"] = clock
    user = make_user("alice")
    make_token(user=user, days=3, note="nightly backup")
    make_token(user=user, days=30, note="long lived")
    make_token(user=make_user(), days=2, note="someone else's")
    response = auth.login("alice")
    page = client.get("/").get_data(as_text=True) if response.status_code == 302 else ""
    assert "1 access token expires within 7 days" in page
    assert "nightly backup" in page and "2030-01-04 12:00" in page
    assert "long lived" not in page and "someone else" not in page


def test_no_banner_without_expiring_tokens(client, auth, ctx, make_user, make_token):
    user = make_user("alice")
    make_token(user=user, days=30)
    auth.login("alice")
    assert "expires within 7 days" not in client.get("/").get_data(as_text=True)


def test_regenerating_with_a_new_expiry_rearms_the_notices(hooked, clock, make_token, receiver):
    credential, _ = make_token(user=hooked, days=5)
    assert notices.notify_expiring().delivered == 1
    lifecycle.regenerate(credential, expires_at=lifecycle.expiry(6))
    assert notices.notify_expiring().delivered == 1
    assert _thresholds(receiver) == [7, 7]
