"""Public revocation (GitHub's credential revocation API): whoever finds a leaked
tokenapp secret can stop it, without a credential of their own.

No oracle: the answer never depends on the secrets (every one is parsed,
digested and looked up the same way; unknown, malformed, already revoked and
live give the same 202 and body). Whoever holds a live secret can already ask
`/auth/verify`, so the report's answer could not tell them more anyway.
Throttled per client address in the database (an upsert on a unique index),
so every worker and node shares one count without Redis.
"""

import datetime
import hashlib
import logging

from flask import current_app

from . import delivery
from . import lifecycle
from . import notices
from .clock import now
from .db import counter_transaction
from .db import database
from .errors import Problem
from .models import AddressWindow
from .models import Credential
from .models import Membership
from .models import RevocationNotice
from .models import Secret
from .models import User
from .prepared import Prepared
from .throttle import counted_address

log = logging.getLogger("tokenapp.notices")  # counted as webhook failures by /metrics

ACTOR = "public report"
WINDOW = datetime.timedelta(minutes=1)
MAX_SECRETS = 100  # per report
MAX_LENGTH = 200  # characters per secret; longer ones cannot be ours and are skipped alike


def throttle(address: str | None) -> None:
    """Refuse (429) an address over TOKENAPP_PUBLIC_REVOKE_PER_MINUTE reports this minute
    (an IPv6 address by its /64, as sign-ins count: one host usually holds all of it)."""
    limit = current_app.config["PUBLIC_REVOKE_PER_MINUTE"]
    moment = now()
    start = moment.replace(second=0, microsecond=0)
    with counter_transaction():
        count = _claim.first(
            address=counted_address(address)[:45],
            start=start,
        )["count"]
        if count == 1:  # the first report of a new minute: older windows are spent
            AddressWindow.delete().where(AddressWindow.window_start < start - WINDOW).execute()
    if count > limit:
        retry = str(max(1, int((start + WINDOW - moment).total_seconds())))
        raise Problem(
            429,
            "Too many reports",
            f"At most {limit} revocation reports a minute from one address.",
            kind="rate-limited",
            headers={"Retry-After": retry},
        )


_claim = Prepared(
    lambda address, start: (
        AddressWindow.insert(address=address, window_start=start, count=1)
        .on_conflict(
            conflict_target=[AddressWindow.address, AddressWindow.window_start],
            update={AddressWindow.count: AddressWindow.count + 1},
        )
        .returning(AddressWindow.count)
    ),
    address=AddressWindow.address,
    start=AddressWindow.window_start,
)


def report(secrets: list[str]) -> int:
    """Revoke each live credential among the secrets; returns how many stopped (never shown)."""
    digests = {_digest(secret) for secret in secrets}
    moment = now()
    stopped = 0
    with database.atomic():
        rows = (
            Secret.select(Secret.expires_at, Credential)
            .join(Credential)
            .where(Secret.digest.in_(sorted(digests)))
        )
        for row in rows:
            credential = row.credential
            if credential.revoked_at is not None or credential.state != "active":
                continue
            if row.expires_at is not None and row.expires_at <= moment:
                continue  # a rotated-out secret whose grace has ended stops nothing
            if not lifecycle.revoke(credential, system=ACTOR):
                continue  # revoked since it was read (a report of it at the same moment)
            for user_id in _told(credential):
                RevocationNotice.create(user=user_id, credential=credential.id)
            stopped += 1
    return stopped


def _told(credential: Credential) -> list[int]:
    """Who hears of it: the credential's user; for a service account, which never signs
    in, its project's owners (they manage its keys)."""
    if not User.get_by_id(credential.user_id).is_service_account:
        return [credential.user_id]
    owners = Membership.select(Membership.user).where(
        (Membership.project == credential.project_id) & (Membership.role == "owner")
    )
    return [row.user_id for row in owners]


def pending_notices(user_id: int) -> list[RevocationNotice]:
    """Reports of the last 30 days that stopped one of the user's credentials (the banner)."""
    since = now() - datetime.timedelta(days=30)
    return list(
        RevocationNotice.select(RevocationNotice, Credential)
        .join(Credential)
        .where((RevocationNotice.user == user_id) & (RevocationNotice.reported_at > since))
        .order_by(RevocationNotice.reported_at.desc())
    )


def notify_revoked() -> notices.Outcome:
    """Send each undelivered report notice to its owner's webhook (`notify-expiring` runs it).

    A notice is claimed by setting delivered_at where it is still NULL (one node wins);
    a failed POST sets it back, so the next run retries.
    """
    delivered = failed = 0
    waiting = (
        RevocationNotice.select(RevocationNotice, Credential, User)
        .join(Credential)
        .switch(RevocationNotice)
        .join(User)
        .where(RevocationNotice.delivered_at.is_null() & User.webhook_url.is_null(False))
    )
    for notice in waiting:
        claimed = (
            RevocationNotice.update(delivered_at=now())
            .where((RevocationNotice.id == notice.id) & RevocationNotice.delivered_at.is_null())
            .execute()
        )
        if not claimed:
            continue
        try:
            delivery.post_json(notice.user.webhook_url, _payload(notice))
        except Exception as exc:  # one receiver stops nobody
            log.warning(
                "revocation notice for credential %s not delivered (retried next run): %s",
                notice.credential_id,
                type(exc).__name__,
            )
            RevocationNotice.update(delivered_at=None).where(
                RevocationNotice.id == notice.id
            ).execute()
            failed += 1
            continue
        delivered += 1
    return notices.Outcome(delivered, failed)


def _payload(notice: RevocationNotice) -> dict:
    credential = notice.credential
    return {
        "event": "credential.revoked",
        "reason": ACTOR,
        "user": notice.user.username,
        "credential": {
            "id": str(credential.id),
            "kind": credential.kind,
            "note": credential.note,
            "revoked_at": notice.reported_at.isoformat(timespec="seconds") + "Z",
        },
    }


def _digest(secret: str) -> str:
    # Digest whatever was sent, malformed or not, so each item costs the same lookup;
    # the stored digest is of the whole secret (credentials.digest), so this matches.
    text = secret.strip()[:MAX_LENGTH]
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
