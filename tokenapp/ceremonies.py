"""WebAuthn challenges: each rendered ceremony's in the session, each spent one on the server.

The session (a signed cookie) lists the challenges of the last OPEN_CEREMONIES
pages this browser was shown, each with the time it was issued; an answer names
the one it signed, which must be listed and younger than CHALLENGE_SECONDS.
Taking it removes it from the session, but a copy of the cookie from before the
answer was sent (another worker answering a double submit, or a stolen cookie)
still lists it. So the database keeps the digest of every challenge spent within
CHALLENGE_SECONDS, and a second answer to one fails on every worker and node.
"""

import calendar
import datetime
import hashlib

from flask import session
from peewee import CharField
from peewee import DateTimeField
from peewee import IntegrityError

from .clock import now
from .db import BaseModel
from .db import database

SESSION_KEY = "_webauthn_challenges"
OPEN_CEREMONIES = 4  # challenges kept at once: a few tabs, and the cookie stays small
CHALLENGE_SECONDS = 10 * 60  # from the page to the answer: time to read, find the key, touch it


class SpentChallenge(BaseModel):
    """A challenge an answer named, as the SHA-256 of its base64url; kept CHALLENGE_SECONDS."""

    digest = CharField(max_length=64, primary_key=True)
    spent_at = DateTimeField(index=True)


def issue(challenge: str) -> None:
    """Keep challenge (base64url) for this browser, with the few before it still open."""
    moment = _seconds()
    kept = [pair for pair in _kept() if moment - pair[1] < CHALLENGE_SECONDS]
    session[SESSION_KEY] = [*kept[-(OPEN_CEREMONIES - 1) :], [challenge, moment]]


def take(challenge: str) -> bool:
    """True once for a challenge this session was issued within CHALLENGE_SECONDS."""
    kept = _kept()
    session[SESSION_KEY] = [pair for pair in kept if pair[0] != challenge]
    issued = next((at for c, at in kept if c == challenge), None)
    if issued is None or _seconds() - issued >= CHALLENGE_SECONDS:
        return False
    moment = now()
    digest = hashlib.sha256(challenge.encode()).hexdigest()
    try:
        with database.atomic():  # a savepoint: PostgreSQL carries on after the refusal
            SpentChallenge.create(digest=digest, spent_at=moment)
    except IntegrityError:  # spent already, with another copy of this cookie
        return False
    horizon = moment - datetime.timedelta(seconds=CHALLENGE_SECONDS)
    SpentChallenge.delete().where(SpentChallenge.spent_at < horizon).execute()
    return True


def _kept() -> list[list]:
    kept = session.get(SESSION_KEY)
    if not isinstance(kept, list):
        return []
    return [
        pair
        for pair in kept
        if isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], int)
    ]


def _seconds() -> int:
    return calendar.timegm(now().utctimetuple())
