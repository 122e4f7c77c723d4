"""Passkeys through the test client: what a broken or forged answer gets (the real
ceremonies run in Chromium's virtual authenticator, test_browser_security.py)."""

import base64
import json
import time

from tokenapp.models import AuditEvent


def test_the_sign_in_page_offers_a_passkey_ceremony_for_this_site(client, make_user):
    make_user("alice")
    page = client.get("/login").text  # the test client is at http://localhost
    assert "Sign in with a passkey" in page
    options = page.split('data-passkey-get="')[1].split('"')[0].replace("&#34;", '"')
    assert json.loads(options)["rpId"] == "localhost"
    assert json.loads(options)["userVerification"] == "required"
    # An IP address is no WebAuthn relying party ID: no ceremony offered there.
    assert "Sign in with a passkey" not in client.get("/login", base_url="http://127.0.0.1").text


def test_a_malformed_or_unknown_passkey_answer_signs_no_one_in(client, auth, make_user, ctx):
    make_user("alice")
    for credential in ["not json", json.dumps({"id": "AAAA", "rawId": "AAAA", "type": "x"})]:
        response = auth.post("/login/passkey", {"credential": credential}, form_page="/login")
        assert response.status_code == 302 and response.headers["Location"].endswith("/login")
        assert client.get("/account").status_code == 302
    assert AuditEvent.select().where(AuditEvent.action == "login.failure").count() == 2


def test_the_second_step_passkey_needs_a_pending_password(client, auth, make_user):
    make_user("alice")
    response = auth.post("/login/2fa/passkey", {"credential": "{}"}, form_page="/login")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_forged_passkey_answers_are_throttled_per_address(client, auth, make_user, ctx):
    make_user("alice")
    forged = json.dumps({"id": "AAAA", "rawId": "AAAA", "type": "public-key"})
    for _ in range(5):
        response = auth.post("/login/passkey", {"credential": forged}, form_page="/login")
        assert response.status_code == 302
    response = auth.post("/login/passkey", {"credential": forged}, form_page="/login")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0


def _answer(challenge: str) -> str:
    """An answer that signed `challenge` (its signature never gets checked: no such key)."""
    client_data = json.dumps({"type": "webauthn.get", "challenge": challenge, "origin": "x"})
    encoded = base64.urlsafe_b64encode(client_data.encode()).decode().rstrip("=")
    return json.dumps({"id": "AAAA", "rawId": "AAAA", "response": {"clientDataJSON": encoded}})


def _challenge(page: str) -> str:
    options = page.split('data-passkey-get="')[1].split('"')[0].replace("&#34;", '"')
    return json.loads(options)["challenge"]


def _flipped(challenge: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(challenge + "=="))
    raw[0] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_every_rendered_challenge_is_good_once_and_only_those_issued_here(
    app, client, auth, make_user
):
    make_user("alice")
    pages = [client.get("/login").text for _ in range(6)]  # six tabs: all still good
    issued = [_challenge(page) for page in pages]
    csrf = auth.CSRF.search(pages[-1]).group(1)
    elsewhere = _challenge(app.test_client().get("/login").text)  # another browser's

    def flashed(challenge: str) -> str:
        answer = {"credential": _answer(challenge), "csrf_token": csrf}
        address = {"REMOTE_ADDR": f"192.0.2.{len(sent)}"}  # failures from one are throttled
        sent.append(client.post("/login/passkey", data=answer, environ_base=address))
        assert sent[-1].status_code == 302
        return client.get("/login").text

    sent = []
    for challenge in [_flipped(issued[2]), elsewhere, "A" * 43, "A" * 75, ""]:
        assert "already used" in flashed(challenge)  # tampered, foreign, never issued
    for challenge in reversed(issued):
        assert "not registered here" in flashed(challenge)  # each page's: good
        assert "already used" in flashed(challenge)  # but once


def test_challenges_an_older_release_kept_in_the_cookie_count_for_nothing(client, make_user):
    make_user("alice")
    page = client.get("/login").text
    with client.session_transaction() as session:
        session["_webauthn_challenges"] = [["A" * 43, int(time.time())]]
        session["_webauthn_challenge"] = "A" * 43
    csrf = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    answer = {"credential": _answer("A" * 43), "csrf_token": csrf}
    assert client.post("/login/passkey", data=answer).status_code == 302
    assert "already used" in client.get("/login").text
    with client.session_transaction() as session:
        assert "_webauthn_challenges" not in session and "_webauthn_challenge" not in session
    answer = {"credential": _answer(_challenge(page)), "csrf_token": csrf}
    assert client.post("/login/passkey", data=answer).status_code == 302
    assert "not registered here" in client.get("/login").text
