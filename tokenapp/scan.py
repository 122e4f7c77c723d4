"""`tokenapp scan`: find leaked tokenapp secrets in files, say which still work.

A secret is recognised by its prefix and checksum (credentials.find), so
look-alikes (a changed character, a made-up example) are not reported. Each
one found is looked up by digest: `live` (it would authenticate, or would
again once its user is reactivated), `revoked`, `expired` (the token, or a
rotated-out secret past its grace period), or `unknown` (not in this
database: another installation's, deleted, or regenerated without grace).
Only the secret's hint (prefix and four characters) is ever printed.
"""

import os
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
    """Every regular file under paths, skipping VCS folders and binary files."""
    for name in paths:
        root = Path(name)
        if root.is_file():
            if _is_text(root):
                yield root
            continue
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for file in sorted(names):
                path = Path(folder, file)
                if path.is_file() and not path.is_symlink() and _is_text(path):
                    yield path


def _is_text(path: Path) -> bool:
    try:
        if path.stat().st_size > MAX_BYTES:
            return False
        with path.open("rb") as fh:
            return b"\0" not in fh.read(SNIFF)
    except OSError:
        return False


def secrets_in(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, secret) of every well-formed secret in a text file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        for _, secret in credentials.find(line):
            yield number, secret


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
