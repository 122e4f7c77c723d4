"""last_used to the minute, with at most one write per credential per minute per process."""

import datetime
import uuid

from .auth import Principal
from .clock import now
from .models import Credential

_last_written: dict[uuid.UUID, datetime.datetime] = {}


def touch(principal: Principal) -> None:
    minute = now().replace(second=0, microsecond=0)
    if _last_written.get(principal.credential_id) == minute:
        return
    _last_written[principal.credential_id] = minute
    (
        Credential.update(last_used=minute)
        .where(
            (Credential.id == principal.credential_id)
            & (Credential.last_used.is_null() | (Credential.last_used < minute))
        )
        .execute()
    )
