"""Two-factor sign-in with an authenticator app, through the real pages (issue 14).

The codes are computed here by an independent RFC 6238 implementation (HMAC-SHA1,
dynamic truncation), checked first against the RFC's own test vectors.
"""

import base64
import calendar
import re

import pytest
from conftest import PASSWORD
from totp_support import rfc6238

from tokenapp.models import AuditEvent
from tokenapp.models import RecoveryCode


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_the_independent_totp_matches_rfc_6238_appendix_b(unix_time, expected):
    assert rfc6238(b"12345678901234567890", unix_time, digits=8) == expected


@pytest.fixture
def app_overrides(clock):
    return {"CLOCK": clock}


def epoch(clock) -> int:
    return calendar.timegm(clock.now.utctimetuple())  # the app's clock is naive UTC


class Phone:
    """The authenticator app: the key read off our page, codes from rfc6238()."""

    def __init__(self, key_b32: str, clock):
        self.key = base64.b32decode(key_b32)
        self.clock = clock

    def code(self, steps: int = 0) -> str:
        return rfc6238(self.key, epoch(self.clock) + 30 * steps)


def enrol(client, auth, clock) -> tuple[Phone, list[str]]:
    response = auth.post("/account/security/totp/start", {}, form_page="/account/security")
    assert response.status_code == 302
    page = client.get("/account/security").get_data(as_text=True)
    assert "<svg" in page and "otpauth" not in page  # the QR is drawn here, the URI not linked
    key = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    phone = Phone(key, clock)
    wrong = auth.post(
        "/account/security/totp/confirm", {"code": "000000"}, form_page="/account/security"
    )
    assert wrong.status_code == 400
    response = auth.post(
        "/account/security/totp/confirm", {"code": phone.code()}, form_page="/account/security"
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>", response.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return phone, codes


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def second_step(auth, code):
    return auth.post("/login/2fa", {"code": code})


def test_enrol_then_the_password_alone_signs_no_one_in(client, auth, make_user, clock, ctx):
    make_user("alice")
    auth.login("alice")
    phone, _ = enrol(client, auth, clock)
    auth.logout()

    response = auth.login("alice")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/2fa")
    assert not signed_in(client)  # the pending state is no session
    assert client.get("/tokens").status_code == 302
    assert second_step(auth, "123456").status_code == 400
    assert not signed_in(client)

    clock.advance(seconds=30)
    response = second_step(auth, phone.code())
    assert response.status_code == 302
    assert signed_in(client)
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert "2fa.enable" in actions and "login.2fa.failure" in actions
    assert actions[-2:] == ["login.2fa.success", "login.success"]
    # No code reaches the audit log.
    stored = " ".join(str(e.detail) + str(e.target) for e in AuditEvent.select())
    assert phone.code() not in stored


def test_a_code_is_accepted_once_and_drift_is_one_step(client, auth, make_user, clock, ctx):
    make_user("alice")
    auth.login("alice")
    phone, _ = enrol(client, auth, clock)
    auth.logout()
    clock.advance(seconds=60)

    auth.login("alice")
    used = phone.code()
    assert second_step(auth, used).status_code == 302
    auth.logout()

    auth.login("alice")
    assert second_step(auth, used).status_code == 400  # replay within its window
    assert second_step(auth, phone.code(steps=-1)).status_code == 400  # older than the last used
    assert second_step(auth, phone.code(steps=2)).status_code == 400  # beyond the drift
    assert second_step(auth, phone.code(steps=1)).status_code == 302  # a fast phone: allowed


def test_a_recovery_code_works_once(client, auth, make_user, clock, ctx):
    make_user("alice")
    auth.login("alice")
    _, codes = enrol(client, auth, clock)
    assert RecoveryCode.select().count() == 10
    assert all(codes[0] not in r.digest for r in RecoveryCode.select())
    auth.logout()

    auth.login("alice")
    assert second_step(auth, codes[0].upper().replace("-", " ")).status_code == 302
    assert "9 of 10 recovery codes left" in client.get("/account/security").text
    auth.logout()
    auth.login("alice")
    assert second_step(auth, codes[0]).status_code == 400
    assert not signed_in(client)
    assert AuditEvent.select().where(AuditEvent.action == "recovery.used").count() == 1


def test_wrong_codes_are_throttled_like_passwords(client, auth, make_user, clock, ctx):
    make_user("alice")
    auth.login("alice")
    phone, _ = enrol(client, auth, clock)
    auth.logout()
    clock.advance(seconds=30)
    auth.login("alice")
    for n in range(4):  # one wrong code was typed while enrolling
        assert second_step(auth, f"{n:06d}").status_code == 400
    response = second_step(auth, phone.code())  # even the right code waits now
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    clock.advance(minutes=15, seconds=1)
    auth.login("alice")
    assert second_step(auth, phone.code()).status_code == 302


def test_the_second_step_lapses_without_a_password_first(client, auth, make_user):
    make_user("alice")
    assert client.get("/login/2fa").status_code == 302
    response = auth.post("/login/2fa", {"code": "123456"}, form_page="/login")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_turning_off_and_new_recovery_codes_ask_for_a_code(client, auth, make_user, clock, ctx):
    make_user("alice")
    auth.login("alice")
    phone, old = enrol(client, auth, clock)
    clock.advance(seconds=30)
    bad = auth.post("/account/security/recovery-codes", {"code": "111111"})
    assert bad.status_code == 400
    fresh = auth.post(
        "/account/security/recovery-codes", {"code": phone.code()}, form_page="/account/security"
    )
    new = re.findall(r"<li><code>([0-9a-z-]{11})</code></li>", fresh.text)
    assert len(new) == 10 and not set(new) & set(old)
    clock.advance(seconds=30)
    off = auth.post(
        "/account/security/totp/disable", {"code": phone.code()}, form_page="/account/security"
    )
    assert off.status_code == 302
    auth.logout()
    assert auth.login("alice", PASSWORD).headers["Location"] == "/"
    assert AuditEvent.select().where(AuditEvent.action == "2fa.disable").count() == 1


def test_reset_2fa_from_the_command_line_lets_a_locked_out_admin_in(
    app, client, auth, make_user, clock, ctx
):
    make_user("root", admin=True)
    auth.login("root")
    enrol(client, auth, clock)
    auth.logout()
    assert auth.login("root").headers["Location"].endswith("/login/2fa")

    result = app.test_cli_runner().invoke(args=["user", "reset-2fa", "root"])
    assert result.exit_code == 0, result.output
    assert "Removed the second factor of root" in result.output
    assert RecoveryCode.select().count() == 0
    event = AuditEvent.select().where(AuditEvent.action == "2fa.disable").get()
    assert event.actor_name.startswith("cli:") and event.target == "root"

    assert auth.login("root").headers["Location"] == "/"
    again = app.test_cli_runner().invoke(args=["user", "reset-2fa", "root"])
    assert again.exit_code == 0 and "has no second factor" in again.output
