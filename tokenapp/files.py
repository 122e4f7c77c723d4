"""Private files: what holds export keys, password hashes or the secret key is the owner's alone.

Modes are set explicitly rather than left to the umask (022 makes files
world-readable, 000 world-writable). Only what this app creates is set;
an existing file or folder keeps the mode its administrator gave it, except
a SQLite database (and its -wal and -shm), which versions before 0600 files
left readable by everyone: `private_again` tightens those.
"""

import os

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(path: str | os.PathLike) -> None:
    """Create the folder 0700 (and missing parents as the umask says) unless it exists."""
    try:
        os.makedirs(path, mode=PRIVATE_FOLDER)
    except FileExistsError:
        return
    os.chmod(path, PRIVATE_FOLDER)


def private_file(path: str | os.PathLike) -> None:
    """Create an empty file 0600 unless it exists (SQLite then opens it as a new database).

    SQLite gives a database's -wal, -shm and -journal the database file's own
    mode, so creating this one private keeps them private too. A missing
    folder is left for the caller (SQLite) to report.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except (FileExistsError, FileNotFoundError):
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def private_again(path: str | os.PathLike) -> int | None:
    """Make an existing file 0600 if anyone but its owner may use it; returns the mode it had.

    None when the file is missing or was already private.
    """
    try:
        before = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None
    if before & ~PRIVATE_FILE == 0:
        return None
    os.chmod(path, PRIVATE_FILE)
    return before
