"""TLS: gunicorn's own (--certfile/--keyfile) with HSTS, and a TLS-terminating proxy.

The certificate is made here, self-signed for localhost, valid one day. The
proxy case is what nginx in front of tokenapp looks like to the app: the
peer is a trusted proxy (TOKENAPP_TRUSTED_PROXIES) that says who the client
is (X-Forwarded-For) and how it came (X-Forwarded-Proto); a credential that
came over plain HTTP from a non-loopback client is refused.
"""

import http.client
import json
import shutil
import ssl

import pytest
from conftest import bearer
from deploy_support import TOKENAPP
from deploy_support import Server
from deploy_support import clean_env
from https_support import make_certificate

VERIFY = "/api/v1/auth/verify"

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed"),
]


@pytest.fixture
def certificate(tmp_path):
    return make_certificate(tmp_path)


@pytest.fixture
def token(make_token):
    credential, secret = make_token(["dashboard:view"])
    return credential, secret


def _server(tmp_path, database_url, *extra, tls_context=None, **env) -> Server:
    return Server(
        [TOKENAPP, "serve", "--workers", "1", *extra],
        env=clean_env(
            TOKENAPP_INSTANCE_PATH=str(tmp_path / "instance"),
            TOKENAPP_DATABASE_URL=database_url,
            **env,
        ),
        cwd=tmp_path,
        log=tmp_path / f"serve-{len(list(tmp_path.glob('serve-*')))}.log",
        tls_context=tls_context,
    )


def test_https_with_gunicorn_tls_sends_hsts(tmp_path, database_url, certificate, token):
    cert, key = certificate
    credential, secret = token
    context = ssl.create_default_context(cafile=str(cert))
    with _server(
        tmp_path, database_url, "--certfile", str(cert), "--keyfile", str(key), tls_context=context
    ) as server:
        status, headers, body = server.request("GET", VERIFY, headers=bearer(secret))
        assert status == 200, body
        assert json.loads(body)["credential"]["id"] == str(credential.id)
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert "https://127.0.0.1:" in server.stderr()  # the URL it prints is https

        # The client really checked the certificate: without it as a CA, no connection.
        conn = http.client.HTTPSConnection(
            "localhost", server.port, timeout=10, context=ssl.create_default_context()
        )
        with pytest.raises(ssl.SSLCertVerificationError):
            conn.request("GET", "/healthz")
        conn.close()
        # Plain HTTP on the TLS port gets no answer from the app.
        plain = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        with pytest.raises((OSError, http.client.HTTPException)):
            plain.request("GET", VERIFY, headers=bearer(secret))
            plain.getresponse()
        plain.close()


def test_behind_a_tls_proxy_plain_http_from_a_client_is_refused(tmp_path, database_url, token):
    _, secret = token
    with _server(tmp_path, database_url, TOKENAPP_TRUSTED_PROXIES="127.0.0.1") as server:
        client = {"X-Forwarded-For": "10.9.8.7"}
        status, headers, body = server.request(
            "GET", VERIFY, headers={**bearer(secret), **client, "X-Forwarded-Proto": "http"}
        )
        assert status == 403, body
        assert headers["Content-Type"] == "application/problem+json"
        assert json.loads(body)["type"].endswith("https-required")
        assert "Strict-Transport-Security" not in headers

        status, headers, body = server.request(
            "GET", VERIFY, headers={**bearer(secret), **client, "X-Forwarded-Proto": "https"}
        )
        assert status == 200, body
        assert headers["Strict-Transport-Security"].startswith("max-age=")

        # Without a credential there is nothing to protect: 401, not 403.
        status, _, _ = server.request(
            "GET", VERIFY, headers={**client, "X-Forwarded-Proto": "http"}
        )
        assert status == 401


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(tmp_path, database_url, token):
    """No TOKENAPP_TRUSTED_PROXIES: X-Forwarded-Proto cannot turn plain HTTP into HTTPS."""
    _, secret = token
    with _server(tmp_path, database_url) as server:
        status, headers, _ = server.request(
            "GET",
            VERIFY,
            headers={**bearer(secret), "X-Forwarded-For": "10.9.8.7", "X-Forwarded-Proto": "https"},
        )
        # Still the loopback peer over plain HTTP: allowed, and no HSTS (not secure).
        assert status == 200
        assert "Strict-Transport-Security" not in headers
