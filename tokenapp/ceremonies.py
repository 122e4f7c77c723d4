"""WebAuthn challenges: minted and checked with a key, each spent one kept on the server.

Issuing writes nothing: a challenge is RANDOM_BYTES of chance, the time it was
issued and a MAC (HMAC-SHA256, a key derived from SECRET_KEY) over those, the
ceremony's purpose and this browser's session CSRF secret, which every page with
a form already holds and which only a new session changes. So two pages rendered
at once from one cookie (two tabs, a page fetched twice) each keep a good
challenge, whichever Set-Cookie lands last. An answer's challenge must carry a
good MAC for this purpose and session and be younger than CHALLENGE_SECONDS (from
a node whose clock runs up to SKEW_SECONDS ahead too); a copy of the cookie
(another worker answering a double submit, or a stolen one) still carries the
session, so the database keeps the digest of every challenge spent for as long
as it could count, and a second answer fails on every worker and node.
"""

import calendar
import datetime
import hashlib
import hmac
import secrets

from flask import current_app
from flask import g
from flask import session
from flask_wtf.csrf import generate_csrf
from peewee import CharField
from peewee import DateTimeField
from peewee import IntegrityError

from .clock import now
from .db import BaseModel
from .db import database

CHALLENGE_SECONDS = 10 * 60  # from the page to the answer: time to read, find the key, touch it
# The page may come from a node whose clock runs this far ahead of the one that takes
# the answer (NTP keeps them far closer); spent records are kept this much longer.
SKEW_SECONDS = 60
RANDOM_BYTES = 16
MAC_BYTES = 32
STALE_KEYS = ("_webauthn_challenges", "_webauthn_challenge")  # older releases kept them here


class SpentChallenge(BaseModel):
    """A challenge an answer named, as the SHA-256 of its bytes; kept as long as one counts."""

    digest = CharField(max_length=64, primary_key=True)
    spent_at = DateTimeField(index=True)


def issue(purpose: str) -> bytes:
    """A new challenge for purpose (a ceremony kind), good in this browser session."""
    body = secrets.token_bytes(RANDOM_BYTES) + _seconds().to_bytes(8, "big")
    return body + _mac(purpose, body)


def take(purpose: str, challenge: bytes) -> bool:
    """True once for a challenge issue(purpose) gave this session within CHALLENGE_SECONDS."""
    for key in STALE_KEYS:
        if key in session:
            session.pop(key)
    body, mac = challenge[:-MAC_BYTES], challenge[-MAC_BYTES:]
    if len(body) != RANDOM_BYTES + 8 or not hmac.compare_digest(mac, _mac(purpose, body)):
        return False
    age = _seconds() - int.from_bytes(body[RANDOM_BYTES:], "big")
    if not -SKEW_SECONDS <= age < CHALLENGE_SECONDS:
        return False
    moment = now()
    digest = hashlib.sha256(challenge).hexdigest()
    try:
        with database.atomic():  # a savepoint: PostgreSQL carries on after the refusal
            SpentChallenge.create(digest=digest, spent_at=moment)
    except IntegrityError:  # spent already, with another copy of this cookie
        return False
    horizon = moment - datetime.timedelta(seconds=CHALLENGE_SECONDS + SKEW_SECONDS)
    SpentChallenge.delete().where(SpentChallenge.spent_at < horizon).execute()
    return True


def _mac(purpose: str, body: bytes) -> bytes:
    secret = current_app.config["SECRET_KEY"]
    secret = secret if isinstance(secret, bytes) else str(secret).encode()
    key = hmac.digest(secret, b"tokenapp webauthn challenge", "sha256")
    message = b"\0".join([purpose.encode(), _session_secret().encode(), body])
    return hmac.digest(key, message, "sha256")


def _session_secret() -> str:
    """Flask-WTF's CSRF secret of this session (made now if the session has none)."""
    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if not isinstance(session.get(name), str):
        g.pop(name, None)  # a token cached for this request, its secret since cleared
        generate_csrf()
    return session[name]


def _seconds() -> int:
    return calendar.timegm(now().utctimetuple())
