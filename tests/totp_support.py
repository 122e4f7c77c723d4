"""An authenticator app written from the RFCs, independent of the app's pyotp."""

import hashlib
import hmac
import struct


def rfc6238(key: bytes, unix_time: int, digits: int = 6, step: int = 30) -> str:
    """RFC 6238 section 4 over RFC 4226 section 5.3, with SHA-1."""
    counter = struct.pack(">Q", unix_time // step)
    mac = hmac.new(key, counter, hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)
