"""Expiry warnings: which tokens expire soon, and webhook notices to their owners.

A notice goes once per token per threshold (7 days, 1 day), even with several
nodes running `tokenapp notify-expiring`: the row in ExpiryNotice is inserted
first, in its own transaction, and its unique index lets only one node win;
the POST follows. A failed POST removes the row again so the next run retries.
Each delivery stands alone: whatever one URL does, the run goes on to the next.
Where a notice may be sent is tokenapp/delivery.py's business.
"""

import datetime
import http.client
import logging
from typing import NamedTuple

from peewee import IntegrityError

from . import delivery
from .clock import now
from .db import database
from .models import Credential
from .models import ExpiryNotice
from .models import User

log = logging.getLogger(__name__)

THRESHOLDS = (7, 1)  # days before expiry
WARNING = datetime.timedelta(days=max(THRESHOLDS))


class Outcome(NamedTuple):
    delivered: int
    failed: int


def expiring(user_id: int, within: datetime.timedelta = WARNING) -> list[Credential]:
    """The user's live tokens that expire within `within`, soonest first."""
    moment = now()
    return list(
        Credential.select(Credential.id, Credential.note, Credential.expires_at)
        .where(
            (Credential.user == user_id)
            & (Credential.kind == "pat")
            & Credential.revoked_at.is_null()
            & (Credential.expires_at > moment)
            & (Credential.expires_at <= moment + within)
        )
        .order_by(Credential.expires_at)
    )


def due() -> list[tuple[Credential, int]]:
    """(token, threshold) pairs whose notice has not been sent; the tightest threshold only."""
    moment = now()
    rows = (
        Credential.select(Credential, User)
        .join(User)
        .where(
            (Credential.kind == "pat")
            & Credential.revoked_at.is_null()
            & (Credential.expires_at > moment)
            & (Credential.expires_at <= moment + WARNING)
            & User.is_active
            & User.webhook_url.is_null(False)
            & (User.webhook_url != "")
        )
        .order_by(Credential.expires_at)
    )
    sent = {
        (credential_id, threshold)
        for credential_id, threshold in ExpiryNotice.select(
            ExpiryNotice.credential, ExpiryNotice.threshold
        ).tuples()
    }
    found = []
    for credential in rows:
        left = credential.expires_at - moment
        crossed = [days for days in THRESHOLDS if left <= datetime.timedelta(days=days)]
        tightest = min(crossed)
        if (credential.id, tightest) not in sent:
            found.append((credential, tightest))
    return found


def notify_expiring() -> Outcome:
    """Send every due notice; a failed one is logged and released for the next run."""
    delivered = failed = 0
    for credential, threshold in due():
        if not _claim(credential, threshold):
            continue
        try:
            delivery.post_json(credential.user.webhook_url, payload(credential, threshold))
        except Exception as exc:  # one receiver, or one stored URL, stops nobody
            log.warning(
                "expiry notice for token %s of user %s not delivered (retried next run): %s",
                credential.id,
                credential.user.username,
                _reason(exc),
            )
            _release(credential, threshold)
            failed += 1
            continue
        except BaseException:
            _release(credential, threshold)
            raise
        delivered += 1
    return Outcome(delivered, failed)


def _reason(exc: Exception) -> str:
    # These messages hold at most the host; anything else may quote the URL, whose
    # path or query can be a secret (chat webhooks are bearer URLs): name its class only.
    if isinstance(exc, delivery.DeliveryError | OSError | http.client.HTTPException):
        return f"{type(exc).__name__}: {exc}"[:300]
    return type(exc).__name__


def payload(credential: Credential, threshold: int) -> dict:
    return {
        "event": "token.expiring",
        "threshold_days": threshold,
        "user": credential.user.username,
        "token": {
            "id": str(credential.id),
            "note": credential.note,
            "expires_at": credential.expires_at.isoformat(timespec="seconds") + "Z",
        },
    }


def _claim(credential: Credential, threshold: int) -> bool:
    # Claiming the tightest threshold claims the wider ones too: a token made
    # with one day left gets one notice, not two.
    try:
        with database.atomic():
            ExpiryNotice.create(credential=credential.id, threshold=threshold, sent_at=now())
            for wider in THRESHOLDS:
                if wider > threshold:
                    (
                        ExpiryNotice.insert(
                            credential=credential.id, threshold=wider, sent_at=now()
                        )
                        .on_conflict_ignore()
                        .execute()
                    )
    except IntegrityError:
        return False
    return True


def _release(credential: Credential, threshold: int) -> None:
    (
        ExpiryNotice.delete()
        .where((ExpiryNotice.credential == credential.id) & (ExpiryNotice.threshold == threshold))
        .execute()
    )
