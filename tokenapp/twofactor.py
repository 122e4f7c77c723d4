"""Two-factor sign-in: an authenticator app (TOTP, RFC 6238) and single-use recovery codes.

Codes come from pyotp, the QR code from segno (an SVG drawn on our page, no
outside service). A code is accepted once: the time-step of the last accepted
code is stored per user, and only a later step passes (one step of clock drift
either way). Wrong codes are counted like wrong passwords, in the same shared
table, under their own key per user. No code or secret is ever logged.
"""

import datetime
import io
import secrets

import pyotp
import segno
from flask import current_app
from peewee import fn

from . import audit
from . import credentials
from .clock import now
from .db import database
from .models import LoginFailure
from .models import Passkey
from .models import RecoveryCode
from .models import Setting
from .models import TwoFactor
from .models import User

STEP = 30  # seconds (RFC 6238's default, what every authenticator app uses)
DRIFT = 1  # steps either way
RECOVERY_CODES = 10
ISSUER = "tokenapp"
# Crockford base32 (no I, L, O, U): a printed code reads back unambiguously.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
POLICY_KEY = "require_2fa"  # the site's policy, a Setting: none, admins or everyone


def policy() -> str:
    """Of whom the site requires two-factor sign-in (an admin sets it on /admin/security)."""
    row = Setting.get_or_none(Setting.key == POLICY_KEY)
    return row.value if row else "none"


def required_of(user: User) -> bool:
    required = policy()
    return required == "everyone" or (required == "admins" and user.is_admin)


def set_policy(value: str, *, actor: User) -> None:
    Setting.insert(key=POLICY_KEY, value=value).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: value}
    ).execute()
    audit.record("policy.2fa", actor, detail={"require": value})


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, RFC 4226's recommendation


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG (no XML declaration), scaled by CSS."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", xmldecl=False, svgns=True, scale=4, border=2, title="QR code"
    )
    return out.getvalue().decode()


def _step(moment: datetime.datetime | None = None) -> int:
    moment = moment or now()
    return int(moment.replace(tzinfo=datetime.UTC).timestamp()) // STEP


def matching_step(secret: str, code: str, *, after: int = 0) -> int | None:
    """The time-step (within the drift) whose code is `code` and that is later than `after`."""
    code = "".join((code or "").split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = _step()
    for step in range(current - DRIFT, current + DRIFT + 1):
        if step > after and credentials.same(totp.at(step * STEP), code):
            return step
    return None


def has_totp(user: User) -> bool:
    return TwoFactor.select().where(TwoFactor.user == user.id).exists()


def enabled(user: User) -> bool:
    """Any second factor: an authenticator app or a passkey."""
    return has_totp(user) or Passkey.select().where(Passkey.user == user.id).exists()


def enable(user: User, secret: str, code: str) -> list[str] | None:
    """Turn TOTP on when code matches secret; returns the fresh recovery codes, or None."""
    step = matching_step(secret, code)
    if step is None:
        return None
    with database.atomic():
        TwoFactor.delete().where(TwoFactor.user == user.id).execute()
        TwoFactor.create(user=user.id, secret=secret, last_step=step, enabled_at=now())
        codes = _replace_recovery_codes(user)
        audit.record("2fa.enable", user, target=user.username)
    return codes


def disable(user: User, *, actor: User | None = None, passkeys: bool = False) -> bool:
    """Remove the authenticator app (the page), and the passkeys too (`tokenapp user reset-2fa`)."""
    with database.atomic():
        removed = TwoFactor.delete().where(TwoFactor.user == user.id).execute()
        RecoveryCode.delete().where(RecoveryCode.user == user.id).execute()
        if passkeys:
            removed += Passkey.delete().where(Passkey.user == user.id).execute()
        audit.record("2fa.disable", actor or user, target=user.username)
    return bool(removed)


def regenerate_recovery_codes(user: User) -> list[str]:
    with database.atomic():
        codes = _replace_recovery_codes(user)
        audit.record("2fa.recovery_codes", user, target=user.username)
    return codes


def recovery_codes_left(user: User) -> int:
    query = RecoveryCode.select(fn.COUNT(RecoveryCode.id))
    return query.where((RecoveryCode.user == user.id) & RecoveryCode.used_at.is_null()).scalar()


def _replace_recovery_codes(user: User) -> list[str]:
    RecoveryCode.delete().where(RecoveryCode.user == user.id).execute()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    RecoveryCode.insert_many(
        [{"user": user.id, "digest": credentials.digest(_normal(c))} for c in codes]
    ).execute()
    return codes


def _new_recovery_code() -> str:
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(10))  # 50 bits
    return f"{chars[:5]}-{chars[5:]}"


def _normal(code: str) -> str:
    kept = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    return kept.translate(str.maketrans({"o": "0", "i": "1", "l": "1"}))


def verify(user: User, code: str) -> str | None:
    """Check a second factor: "totp" or "recovery" when accepted (used up), else None."""
    row = TwoFactor.get_or_none(TwoFactor.user == user.id)
    if row is None:
        return None
    step = matching_step(row.secret, code, after=row.last_step)
    if step is not None:
        # Two requests with the same code at once: only one moves last_step forward.
        moved = (
            TwoFactor.update(last_step=step)
            .where((TwoFactor.user == user.id) & (TwoFactor.last_step < step))
            .execute()
        )
        return "totp" if moved else None
    typed = _normal(code)
    if len(typed) != 10:
        return None
    used = (
        RecoveryCode.update(used_at=now())
        .where(
            (RecoveryCode.user == user.id)
            & (RecoveryCode.digest == credentials.digest(typed))
            & RecoveryCode.used_at.is_null()
        )
        .execute()
    )
    if used:
        audit.record("recovery.used", user, target=user.username)
        return "recovery"
    return None


# Throttling of wrong codes: the same limit and window as passwords, per user.
# Only someone who knew the password gets this far, so a per-user pause locks
# out no stranger; it stops guessing the 10^6 codes.
def _key(user: User) -> str:
    return f"2fa:{user.id}"


def retry_after(user: User) -> int:
    window = current_app.config["LOGIN_FAILURE_WINDOW"]
    limit = current_app.config["LOGIN_FAILURE_LIMIT"]
    since = now() - datetime.timedelta(seconds=window)
    times = [
        at
        for (at,) in LoginFailure.select(LoginFailure.at)
        .where((LoginFailure.key == _key(user)) & (LoginFailure.at > since))
        .order_by(LoginFailure.at.desc())
        .limit(limit)
        .tuples()
    ]
    if len(times) < limit:
        return 0
    return int((times[-1] - since).total_seconds()) + 1


def record_failure(user: User) -> None:
    LoginFailure.create(key=_key(user), at=now())


def clear_failures(user: User) -> None:
    LoginFailure.delete().where(LoginFailure.key == _key(user)).execute()
