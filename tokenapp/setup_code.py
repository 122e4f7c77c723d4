"""The one-time setup code that lets the first visitor create the admin, and nobody else."""

import hashlib
import hmac
import secrets

from flask import current_app

from . import credentials
from .accounts import AccountError
from .accounts import create_user
from .db import database
from .models import Setting
from .models import User

SETUP_CODE_KEY = "setup_code_digest"
# The one-time setup code: printed by `serve`, its digest kept in the database
# so that any worker or node can check it. The code is derived from a random
# nonce (also in the database) and the secret key, so that every node sharing
# the database and TOKENAPP_SECRET_KEY prints the same code: a second node or a
# restart reuses the stored code instead of invalidating the one on screen.
SETUP_NONCE_KEY = "setup_code_nonce"


# Crockford's base32: no I, L, O or U, so nothing on the console reads as something else.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_READS_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _derive_setup_code(nonce: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    mac = hmac.new(key, b"tokenapp setup code:" + nonce.encode(), hashlib.sha256).digest()
    number = int.from_bytes(mac[:10], "big")  # 80 bits: 16 characters of 5 bits
    chars = [CODE_ALPHABET[(number >> shift) & 31] for shift in range(75, -1, -5)]
    return "-".join("".join(chars[i : i + 4]) for i in range(0, 16, 4))


def normalise_setup_code(code: str) -> str:
    """What was typed or pasted, read the way it was printed: case, spaces and dashes aside."""
    kept = "".join(ch for ch in (code or "").upper() if ch.isalnum()).translate(CODE_READS_AS)
    return "-".join(kept[i : i + 4] for i in range(0, len(kept), 4))


def _upsert_setting(key: str, value: str) -> None:
    # An upsert both backends know (REPLACE is SQLite/MySQL only).
    (
        Setting.insert(key=key, value=value)
        .on_conflict(conflict_target=[Setting.key], update={Setting.value: value})
        .execute()
    )


def new_setup_code() -> str:
    """A fresh code; any earlier one stops working (`tokenapp setup-code`)."""
    nonce = secrets.token_hex(16)
    code = _derive_setup_code(nonce)
    with database.atomic():
        _upsert_setting(SETUP_NONCE_KEY, nonce)
        _upsert_setting(SETUP_CODE_KEY, credentials.digest(code))
    return code


def current_setup_code() -> str:
    """The code already stored when this node can derive it, else a new one (`serve`).

    Two nodes starting at once agree: the first insert wins, the second reads it.
    """
    with database.atomic():
        Setting.insert(
            key=SETUP_NONCE_KEY, value=secrets.token_hex(16)
        ).on_conflict_ignore().execute()
        nonce = Setting.get(Setting.key == SETUP_NONCE_KEY).value
        code = _derive_setup_code(nonce)
        digest = credentials.digest(code)
        Setting.insert(key=SETUP_CODE_KEY, value=digest).on_conflict_ignore().execute()
        stored = Setting.get(Setting.key == SETUP_CODE_KEY).value
    if credentials.same(stored, digest):
        return code
    # Stored by a node with another secret key (or before nonces): start afresh.
    return new_setup_code()


def setup_needed() -> bool:
    return not User.select().exists()


def setup_code_matches(code: str) -> bool:
    row = Setting.get_or_none(Setting.key == SETUP_CODE_KEY)
    typed = normalise_setup_code(code)
    return row is not None and credentials.same(row.value, credentials.digest(typed))


def finish_setup() -> bool:
    """Use up the setup code; False when another request used it first."""
    used = Setting.delete().where(Setting.key == SETUP_CODE_KEY).execute()
    Setting.delete().where(Setting.key == SETUP_NONCE_KEY).execute()
    return bool(used)


def complete_setup(code: str, username: str, password: str) -> User:
    """Create the first (admin) user with the one-time code, exactly once."""
    with database.atomic():
        if not setup_needed() or not setup_code_matches(code):
            raise AccountError("That setup code is not valid.")
        user = create_user(username, password, is_admin=True)
        # Two requests racing with the right code: only one deletes the row.
        if not finish_setup():
            raise AccountError("That setup code is not valid.")
    return user
