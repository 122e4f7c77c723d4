"""Expiry webhooks under attack: where a notice may go, which URLs may be saved,
and one bad URL never stops everyone else's notices (issue 11, findings 5 and 6).

Destinations are checked twice: when the URL is saved (syntax, and literal
addresses and `localhost` names, which need no DNS) and at every delivery
(every address the name resolves to, then the address actually connected to).
"""

import http.client
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from test_notices import Receiver

from tokenapp import create_app
from tokenapp import delivery
from tokenapp import notices
from tokenapp import validation
from tokenapp.config import ImproperlyConfigured
from tokenapp.models import ExpiryNotice
from tokenapp.models import User

SECRET_QUERY = "?key=s3cret-in-the-url"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def timed(ctx, clock):
    ctx.config["CLOCK"] = clock
    return ctx


def _user_with_hook(make_user, url, name=None):
    """Set the URL in the database directly, as legacy data would be: no validation."""
    user = make_user(name)
    User.update(webhook_url=url).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# --- finding 5: where a notice may go ------------------------------------------------

# Each reaches the receiver on 127.0.0.1 (or would reach a host service) without the policy.
LOOPBACK = [
    "http://127.0.0.1:{port}/hook",
    "http://localhost:{port}/hook",
    "http://0.0.0.0:{port}/hook",
    "http://2130706433:{port}/hook",
    "http://127.1:{port}/hook",
    "http://0x7f000001:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
]
ELSEWHERE = [
    "http://[::1]:5432/",
    "http://localhost:22/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::]/",
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
]


@pytest.mark.parametrize("template", LOOPBACK + ELSEWHERE)
def test_hostile_destinations_are_refused_at_delivery(
    timed, make_user, make_token, receiver, caplog, template
):
    url = template.format(port=receiver.server.server_address[1])
    user = _user_with_hook(make_user, url)
    make_token(user=user, days=2)
    with caplog.at_level(logging.WARNING, logger="tokenapp.notices"):
        outcome = notices.notify_expiring()
    assert (outcome.delivered, outcome.failed) == (0, 1)
    assert receiver.bodies == []
    assert "not allowed" in caplog.text
    assert ExpiryNotice.select().count() == 0  # released: retried once allowed


@pytest.mark.parametrize(
    "url",
    [t.format(port=8080) for t in LOOPBACK]
    + ELSEWHERE
    + ["http://app.localhost/hook", "https://LOCALHOST./"],
)
def test_hostile_literal_destinations_are_refused_when_saved(auth, make_user, url):
    user = make_user("alice")
    auth.login("alice")
    response = auth.post("/account/webhook", {"webhook_url": url}, form_page="/account")
    assert response.status_code == 400
    assert "not allowed" in response.get_data(as_text=True)
    assert User.get_by_id(user.id).webhook_url is None


@pytest.mark.parametrize("app_overrides", [{"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, 127.0.0.0/8"}])
def test_allowed_networks_admit_a_private_destination(auth, timed, make_user, make_token, receiver):
    make_user("alice")
    auth.login("alice")
    response = auth.post(
        "/account/webhook", {"webhook_url": "http://10.1.2.3:8080/chat"}, form_page="/account"
    )
    assert response.status_code == 302
    refused = auth.post(
        "/account/webhook", {"webhook_url": "http://192.168.0.1/"}, form_page="/account"
    )
    assert refused.status_code == 400  # only the networks allowed
    user = _user_with_hook(make_user, receiver.url)
    make_token(user=user, days=2)
    outcome = notices.notify_expiring()
    assert (outcome.delivered, outcome.failed) == (1, 0)
    assert len(receiver.bodies) == 1


@pytest.mark.backend_independent
def test_a_malformed_allowed_network_stops_the_start(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TOKENAPP_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8,chat.internal")
    with pytest.raises(ImproperlyConfigured, match="TOKENAPP_WEBHOOK_ALLOWED_NETWORKS"):
        create_app({"TESTING": True})


@pytest.mark.parametrize("app_overrides", [{"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}])
def test_a_redirect_is_not_followed(timed, make_user, make_token, receiver):
    elsewhere = Receiver()
    try:
        receiver.status = 302
        receiver.headers = {"Location": elsewhere.url}
        user = _user_with_hook(make_user, receiver.url)
        make_token(user=user, days=2)
        outcome = notices.notify_expiring()
        assert (outcome.delivered, outcome.failed) == (0, 1)
        assert len(receiver.bodies) == 1  # asked once,
        assert elsewhere.bodies == []  # and the redirect went nowhere
        assert ExpiryNotice.select().count() == 0
    finally:
        elsewhere.close()


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
@pytest.mark.parametrize("app_overrides", [{"WEBHOOK_ALLOWED_NETWORKS": "::1/128"}])
def test_allowing_one_network_does_not_allow_another_address_of_the_name(
    timed, make_user, make_token, receiver
):
    # localhost is ::1 and 127.0.0.1 here: one refused address refuses the name.
    port = receiver.server.server_address[1]
    user = _user_with_hook(make_user, f"http://localhost:{port}/hook")
    make_token(user=user, days=2)
    assert notices.notify_expiring().failed == 1
    assert receiver.bodies == []


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver whose self-signed certificate names localhost only (no IP)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-days", "1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = Receiver(context)
    server.cert = cert
    yield server
    server.close()


@pytest.mark.parametrize("app_overrides", [{"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128"}])
def test_https_goes_to_the_checked_address_and_verifies_the_name(
    timed, make_user, make_token, tls_receiver, monkeypatch, caplog
):
    user = _user_with_hook(make_user, tls_receiver.url)
    make_token(user=user, days=2)
    # Not trusted: the certificate is checked, nothing is sent.
    assert notices.notify_expiring().failed == 1
    assert tls_receiver.bodies == [] and "CERTIFICATE_VERIFY_FAILED" in caplog.text
    # Trusted: delivered to 127.0.0.1 with SNI, verification and Host on the name.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_receiver.cert))
    assert notices.notify_expiring().delivered == 1
    port = tls_receiver.server.server_address[1]
    assert tls_receiver.hosts == [f"localhost:{port}"]


@pytest.mark.parametrize("app_overrides", [{"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}])
def test_a_receiver_that_trickles_its_answer_is_cut_off(timed, make_user, make_token, monkeypatch):
    monkeypatch.setattr(delivery, "DEADLINE", 1)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.is_set():  # one header byte at a time, each within TIMEOUT
                try:
                    conn.sendall(b"X")
                except OSError:
                    return
                stop.wait(0.2)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        user = _user_with_hook(make_user, f"http://127.0.0.1:{port}/hook")
        make_token(user=user, days=2)
        started = time.monotonic()
        assert notices.notify_expiring().failed == 1
        assert time.monotonic() - started < 4
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


# --- finding 6: strict URLs, and one bad URL never stops the others -----------------

BAD_URLS = [
    "http://a b.example/hook",
    "http://hooks.example/a b",
    "http://hooks.example:abc/",
    "http://hooks.example:0/",
    "http://hooks.example:65536/",
    "http://hooks.example/x\r\nX-Injected: 1",
    "http://hooks.example/\x00",
    "http://hooks.example/\tx",
    "http://[::1/",
    "http://[::1]x/",
    "http://user:pass@hooks.example/",
    "http://@hooks.example/",
    "http:///no-host",
    "http://hooks.example\\@evil.example/",
    "ftp://hooks.example/",
    "javascript:alert(1)",
    "hooks.example/hook",
    "https://hooks.exämple/",
    "https://hooks.example/" + "x" * 2048,
]


@pytest.mark.backend_independent
@pytest.mark.parametrize("url", BAD_URLS)
def test_the_validator_refuses_what_cannot_be_sent(url):
    with pytest.raises(ValueError):
        validation.webhook_url(url)


@pytest.mark.parametrize("url", BAD_URLS)
def test_the_form_refuses_bad_urls_with_400_never_500(auth, make_user, url):
    user = make_user("alice")
    auth.login("alice")
    response = auth.post("/account/webhook", {"webhook_url": url}, form_page="/account")
    assert response.status_code == 400
    assert User.get_by_id(user.id).webhook_url is None


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/services/T0/B0/xyz?a=1&b=%20#frag",
        "http://chat.example:8065/hooks/abc",
        "HTTPS://Hooks.Example.COM/",
        "https://93.184.215.14/hook",
        "https://[2606:4700::1111]:443/hook",
    ],
)
def test_the_validator_keeps_good_urls(url):
    assert validation.webhook_url(f"  {url} ") == url
    assert validation.webhook_url("") is None and validation.webhook_url(None) is None


def _sendable(url: str) -> None:
    """What http.client would do with the URL, short of connecting."""
    urllib.request.Request(url)  # noqa: S310  (only parsed, never opened)
    target = delivery.Target.of(url)
    connection = http.client.HTTPConnection(target.host, target.port)
    connection.putrequest("POST", target.path)
    connection.close()


URL_CHARS = st.sampled_from(
    list("aZ09-._~:/?#[]@!$&'()*+,;=%\\ \t\r\n\x00\x7fé\u3000\u2028") + ["::1", "%0d%0a"]
)
URLISH = st.builds(
    lambda scheme, body: scheme + body,
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "http:", "", "http://["]),
    st.lists(URL_CHARS, max_size=40).map("".join),
)


@pytest.mark.backend_independent
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(URLISH, st.text(max_size=60), st.none(), st.integers()))
def test_the_validator_only_raises_value_error_and_accepts_only_sendable_urls(value):
    try:
        clean = validation.webhook_url(value)
    except ValueError:
        return
    if clean is not None:
        _sendable(clean)


# PostgreSQL text cannot hold NUL: no legacy row can.
@pytest.mark.parametrize("bad", [url for url in BAD_URLS[:10] if "\x00" not in url])
@pytest.mark.parametrize("app_overrides", [{"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}])
def test_a_bad_url_between_two_good_ones_stops_nobody_and_is_retried(
    runner, timed, make_user, make_token, receiver, caplog, bad
):
    first = _user_with_hook(make_user, receiver.url + "?who=first", "first")
    broken = _user_with_hook(make_user, bad + SECRET_QUERY, "broken")
    last = _user_with_hook(make_user, receiver.url + "?who=last", "last")
    make_token(user=first, days=2)
    broken_token, _ = make_token(user=broken, days=3)
    make_token(user=last, days=4)

    with caplog.at_level(logging.WARNING, logger="tokenapp.notices"):
        result = runner.invoke(args=["notify-expiring"])
    assert result.exit_code == 1, result.output
    assert "Sent 2 expiry notice(s); 1 failed" in result.stderr
    assert sorted(body["user"] for body in receiver.bodies) == ["first", "last"]
    assert f"token {broken_token.id}" in caplog.text
    assert "s3cret" not in caplog.text and "s3cret" not in result.output
    assert not ExpiryNotice.select().where(ExpiryNotice.credential == broken_token.id).exists()

    User.update(webhook_url=receiver.url).where(User.id == broken.id).execute()
    again = runner.invoke(args=["notify-expiring"])
    assert again.exit_code == 0, again.output
    assert "Sent 1 expiry notice(s)." in again.stderr
    assert [body["user"] for body in receiver.bodies][-1] == "broken"
