"""`tokenapp scan`: find leaked tokenapp secrets in files, say which still work.

A secret is recognised by its prefix and checksum wherever it sits (glued to
a variable name too), so look-alikes (a changed character, a made-up example)
are not reported. Files are read as UTF-8, UTF-16 or UTF-32 (by BOM, or by
the NUL pattern of UTF-16), else latin-1; other files with NULs are binary. Each
one found is looked up by digest: `live` (it would authenticate, or would
again once its user is reactivated), `revoked`, `expired` (the token, or a
rotated-out secret past its grace period), or `unknown` (not in this
database: another installation's, deleted, or regenerated without grace).
Only the secret's hint (prefix and four characters) is ever printed.
"""

import codecs
import os
import re
import uuid
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import credentials
from . import lifecycle
from .clock import now
from .models import Credential
from .models import Secret

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"}
MAX_BYTES = 20 * 1024 * 1024  # bigger files are data, not config or code
SNIFF = 8192
NUL_SHARE = 0.1  # UTF-16 sniffing: the least share of NULs in the high-byte positions
BOMS = (  # UTF-32 first: its little-endian BOM begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Prefix and body wherever they sit, even glued to a word (MY_TOKEN_tkp_…_prod):
# no word boundary, because the checksum alone tells a secret from a look-alike.
CANDIDATE = re.compile(
    rf"tk[pef]_[0-9A-Za-z]{{{credentials.RANDOM_LENGTH + credentials.CHECKSUM_LENGTH}}}"
)
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as editors and grep -n count lines
SYSTEM_ACTOR = "tokenapp scan"


@dataclass
class Finding:
    path: str
    line: int
    kind: str
    hint: str
    state: str  # live, revoked, expired, replaced, unknown
    credential_id: uuid.UUID | None
    revoked_now: bool = False

    def __str__(self) -> str:
        ident = self.credential_id or "-"
        state = "live, revoked now" if self.revoked_now else self.state
        return f"{self.path}:{self.line}: {self.kind} {ident} {state} ({self.hint}…)"


def files(paths: Iterable[str]) -> Iterator[Path]:
    """Every regular file under paths, skipping VCS folders (binary files are skipped later)."""
    for name in paths:
        root = Path(name)
        if root.is_file():
            yield root
            continue
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for file in sorted(names):
                path = Path(folder, file)
                if path.is_file() and not path.is_symlink():
                    yield path


def read_text(path: Path) -> str | None:
    """The file's text, or None for a binary, unreadable or oversized file.

    Secrets are ASCII, so any decoding that keeps ASCII finds them: a BOM
    names UTF-8/16/32; NULs at every other byte mean UTF-16 without one; other
    NULs mean binary; otherwise UTF-8, and latin-1 (which decodes any bytes)
    when it is not UTF-8.
    """
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        with path.open("rb") as fh:
            head = fh.read(SNIFF)
            encoding = _encoding(head)
            if encoding is None:
                return None
            data = head + fh.read(MAX_BYTES)
    except OSError:
        return None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        # Not UTF-8 after all (past the sniff), or a UTF-16/32 file cut short.
        return data.decode("latin-1" if encoding == "utf-8" else encoding, errors="replace")


def _encoding(head: bytes) -> str | None:
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding
    if b"\0" not in head:
        return "utf-8"
    # UTF-16 text without a BOM: ASCII characters have a NUL high byte, and
    # almost no character has a NUL low byte; binary data has NULs anywhere.
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2 or 1
    if odd >= half * NUL_SHARE and even * 20 <= odd:
        return "utf-16-le"
    if even >= half * NUL_SHARE and odd * 20 <= even:
        return "utf-16-be"
    return None


def secrets_in(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, secret) of every well-formed secret in a text file."""
    text = read_text(path)
    if text is None:
        return
    for number, line in enumerate(LINE_BREAK.split(text), start=1):
        for match in CANDIDATE.finditer(line):
            try:
                credentials.parse(match.group(0))
            except credentials.MalformedSecret:
                continue  # a look-alike: the checksum says it is not one of ours
            yield number, match.group(0)


def classify(secret: str) -> tuple[str, Credential | None]:
    """The state of a secret in this database, and its credential when known."""
    row = (
        Secret.select(Secret, Credential)
        .join(Credential)
        .where(Secret.digest == credentials.digest(secret))
        .first()
    )
    if row is None:
        return "unknown", None
    credential = row.credential
    moment = now()
    if credential.revoked_at is not None:
        return "revoked", credential
    if credential.expires_at is not None and credential.expires_at <= moment:
        return "expired", credential
    if row.expires_at is not None and row.expires_at <= moment:
        return "replaced", credential  # regenerated; this secret's grace has ended
    return "live", credential


def has_schema() -> bool:
    """False when the database has no tokenapp tables (then every secret is unknown)."""
    return Secret.table_exists()


def scan(paths: Iterable[str], *, revoke: bool = False) -> list[Finding]:
    """Findings in file order; with revoke, every live credential found is revoked."""
    known = has_schema()
    findings = []
    seen: dict[str, tuple[str, Credential | None, bool]] = {}
    for path in files(paths):
        for number, secret in secrets_in(path):
            parsed = credentials.parse(secret)
            if secret in seen:  # the same leak twice: one lookup, one revocation
                state, credential, revoked_now = seen[secret]
                findings.append(_finding(path, number, parsed, state, credential, revoked_now))
                continue
            state, credential = classify(secret) if known else ("unknown", None)
            revoked_now = revoke and state == "live"
            if revoked_now:
                lifecycle.revoke(credential, system=SYSTEM_ACTOR)
            seen[secret] = (state, credential, revoked_now)
            findings.append(_finding(path, number, parsed, state, credential, revoked_now))
    return findings


def _finding(path, number, parsed, state, credential, revoked_now) -> Finding:
    return Finding(
        path=str(path),
        line=number,
        kind=parsed.kind,
        hint=parsed.hint,
        state=state,
        credential_id=credential.id if credential else None,
        revoked_now=revoked_now,
    )
