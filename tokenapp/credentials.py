"""Secrets: mint, parse, checksum and digest. No Flask, no peewee.

Format: ``<prefix>_<random><checksum>``; the random part is 30 base62
characters (178 bits from ``secrets``), the checksum 6 base62 characters of
the CRC32 of ``<prefix>_<random>`` (GitHub's token format), so that a leaked
secret is recognised offline and a mistyped one is refused before any query.
"""

import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass

ALPHABET = string.digits + string.ascii_letters
RANDOM_LENGTH = 30
CHECKSUM_LENGTH = 6
PREFIXES = {"pat": "tkp", "export": "tke", "full": "tkf"}
KINDS = {prefix: kind for kind, prefix in PREFIXES.items()}
PATTERN = re.compile(
    rf"\b(tk[pef])_([0-9A-Za-z]{{{RANDOM_LENGTH}}})([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})\b"
)


class MalformedSecret(ValueError):
    """Not a tokenapp secret: wrong prefix, length, alphabet or checksum."""


@dataclass(frozen=True)
class Parsed:
    kind: str
    secret: str

    @property
    def digest(self) -> str:
        return digest(self.secret)

    @property
    def hint(self) -> str:
        return hint(self.secret)


# Two base62 digits per entry: the checksum's six (a CRC32 < 62**6) in three look-ups,
# not six divmods in a loop (every API request parses a secret; bench.seed mints 10**6).
_PAIRS = tuple(a + b for a in ALPHABET for b in ALPHABET)


def checksum(head: str) -> str:
    """The base62 digits of CRC32(head), CHECKSUM_LENGTH of them, most significant first."""
    rest, low = divmod(zlib.crc32(head.encode()), len(_PAIRS))
    high, middle = divmod(rest, len(_PAIRS))
    return _PAIRS[high] + _PAIRS[middle] + _PAIRS[low]


def mint(kind: str) -> str:
    head = f"{PREFIXES[kind]}_" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return head + checksum(head)


def parse(secret: str) -> Parsed:
    """Check prefix, shape and checksum; raises MalformedSecret."""
    match = PATTERN.fullmatch(secret)
    if match is None:
        raise MalformedSecret("not a tokenapp secret")
    prefix, body, check = match.groups()
    if not hmac.compare_digest(checksum(f"{prefix}_{body}"), check):
        raise MalformedSecret("checksum mismatch")
    return Parsed(kind=KINDS[prefix], secret=secret)


def find(text: str) -> list[tuple[int, str]]:
    """Every well-formed secret in text, with its offset; look-alikes are skipped."""
    found = []
    for match in PATTERN.finditer(text):
        try:
            parse(match.group(0))
        except MalformedSecret:
            continue
        found.append((match.start(), match.group(0)))
    return found


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hint(secret: str) -> str:
    """What pages and logs may show of a secret: its prefix and four characters."""
    return secret[:8]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
