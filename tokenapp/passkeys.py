"""Passkeys and security keys (WebAuthn) with Duo's `webauthn` library.

The relying party is this site as TOKENAPP_PUBLIC_URL names it (its host is
the RP ID, its scheme, host and port the origin); without it, a loopback
address the browser used. Each ceremony's challenge carries its own MAC, bound
to its purpose and this browser session, and is good once, for a while
(tokenapp/ceremonies.py); no cookie holds it, so every open tab (or a page the
browser fetched twice) finishes its ceremony.
A passkey is a second factor after the password, and, being discoverable and
user-verified, also signs in alone.
"""

import ipaddress
import json
import logging
from urllib.parse import urlsplit

from peewee import IntegrityError
from webauthn import generate_authentication_options
from webauthn import generate_registration_options
from webauthn import options_to_json
from webauthn import verify_authentication_response
from webauthn import verify_registration_response
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers import parse_client_data_json
from webauthn.helpers.structs import AuthenticatorSelectionCriteria
from webauthn.helpers.structs import PublicKeyCredentialDescriptor
from webauthn.helpers.structs import ResidentKeyRequirement
from webauthn.helpers.structs import UserVerificationRequirement

from . import audit
from . import ceremonies
from . import urls
from .clock import now
from .db import database
from .fields import PASSKEY_NAME
from .models import Passkey
from .models import User

REASON_CHARS = 200  # of a failed verification's reason in the log
REGISTER, SIGN_IN, SECOND_STEP = "register", "sign-in", "second-step"  # challenge purposes
log = logging.getLogger(__name__)


class PasskeyError(ValueError):
    """The browser's answer does not verify; the message is safe to show."""


def relying_party() -> tuple[str, str] | None:
    """(RP ID, origin), or None where no trustworthy address is known."""
    if urls.is_placeholder():
        return None
    parts = urlsplit(urls.base())
    try:
        ipaddress.ip_address(parts.hostname or "")
        return None  # WebAuthn wants a domain name (localhost is one), never an address
    except ValueError:
        return parts.hostname, f"{parts.scheme}://{parts.netloc}"


def of(user: User) -> list[Passkey]:
    return list(Passkey.select().where(Passkey.user == user.id).order_by(Passkey.created_at))


def registration_options(user: User) -> str:
    rp_id, _ = relying_party()
    options = generate_registration_options(
        challenge=ceremonies.issue(REGISTER),
        rp_id=rp_id,
        rp_name="tokenapp",
        user_name=user.username,
        user_id=str(user.id).encode(),
        exclude_credentials=[_descriptor(p) for p in of(user)],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return options_to_json(options)


def authentication_options(user: User | None) -> str:
    """For the second step (user's keys allowed) or passwordless (any discoverable key)."""
    rp_id, _ = relying_party()
    options = generate_authentication_options(
        challenge=ceremonies.issue(SECOND_STEP if user else SIGN_IN),
        rp_id=rp_id,
        allow_credentials=[_descriptor(p) for p in of(user)] if user else [],
        user_verification=(
            UserVerificationRequirement.PREFERRED if user else UserVerificationRequirement.REQUIRED
        ),
    )
    return options_to_json(options)


def register(user: User, credential: str, name: str) -> Passkey:
    rp_id, origin = relying_party()
    challenge = _take_challenge(credential, REGISTER)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except Exception as exc:  # the library raises many kinds; all mean "not verified"
        log.warning("passkey registration not verified: %s", _reason(exc))  # for the operator
        raise PasskeyError("The passkey could not be verified. Try again.") from exc
    try:
        with database.atomic():  # a savepoint: PostgreSQL carries on after the refusal
            key = Passkey.create(
                user=user.id,
                credential_id=bytes_to_base64url(verified.credential_id),
                public_key=bytes_to_base64url(verified.credential_public_key),
                sign_count=verified.sign_count,
                name=(name or "").strip()[: PASSKEY_NAME.high] or "Passkey",
            )
    except IntegrityError:  # this key is registered (its answer from an older tab, too)
        raise PasskeyError("This passkey is already registered.") from None
    audit.record("passkey.add", user, target=key.name)
    return key


def authenticate(credential: str, user: User | None) -> User:
    """The user whose passkey signed the challenge (must be `user` when given)."""
    rp_id, origin = relying_party()
    try:
        raw_id = str(_parsed(credential)["id"])
    except KeyError:
        raise PasskeyError("The passkey answer is malformed.") from None
    key = Passkey.get_or_none(Passkey.credential_id == raw_id)
    challenge = _take_challenge(credential, SECOND_STEP if user else SIGN_IN)
    if key is None or (user is not None and key.user_id != user.id):
        raise PasskeyError("This passkey is not registered here.")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=base64url_to_bytes(key.public_key),
            credential_current_sign_count=key.sign_count,
            require_user_verification=user is None,
        )
    except Exception as exc:  # every failure of the library means "not verified"
        log.warning("passkey sign-in not verified: %s", _reason(exc))
        raise PasskeyError("The passkey could not be verified.") from exc
    Passkey.update(sign_count=verified.new_sign_count, last_used=now()).where(
        Passkey.id == key.id
    ).execute()
    return key.user


def remove(user: User, passkey_id: int) -> bool:
    key = Passkey.get_or_none((Passkey.id == passkey_id) & (Passkey.user == user.id))
    if key is None:
        return False
    key.delete_instance()
    audit.record("passkey.remove", user, target=key.name)
    return True


def _reason(exc: Exception) -> str:
    """The library's reason on one short line: it quotes the answer (its origin, its type),
    which whoever sent it wrote, newlines and all."""
    return repr(str(exc))[:REASON_CHARS]


def _descriptor(key: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(key.credential_id))


def _parsed(credential: str) -> dict:
    """The answer as a JSON object; PasskeyError otherwise (too deep: a RecursionError)."""
    try:
        answer = json.loads(credential)
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        raise PasskeyError("The passkey answer is malformed.")
    return answer


def _take_challenge(credential: str, purpose: str) -> bytes:
    """The challenge this answer signed, when this session was issued it (then never again)."""
    try:
        client_data = _parsed(credential)["response"]["clientDataJSON"]
        signed = parse_client_data_json(base64url_to_bytes(client_data)).challenge
    except Exception:  # not JSON, no such field, not base64url, not client data
        raise PasskeyError("The passkey answer is malformed.") from None
    if not ceremonies.take(purpose, signed):
        raise PasskeyError("The passkey prompt took too long or was already used. Try again.")
    return signed
