"""The password an attorney gives for an encrypted PDF, held for the one parse it was given for.

A task's arguments are written to the broker, whose append-only file keeps every command it was sent, and into
Celery's log records. So the password never travels in a task: the web process encrypts it with the file key
(casework.encryption) into a file of its own under the storage folder, which web and workers share, and the task
carries only that file's random id. The worker that takes it removes the file as it reads it, so a password opens
one parse; one no task took (its message lost) cannot be opened after HOLD_S, and the documents' reconciler
removes its file.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from pathlib import Path

from django.conf import settings

from casework.encryption import decrypt_recent, encrypt

logger = logging.getLogger(__name__)

# Long enough for a retry to wait behind a few other uploads (each parse is bounded by AFFIANT_PARSE_TIMEOUT_S),
# short enough that a password whose task was lost does not outlive the attorney's visit to the page.
HOLD_S = 15 * 60

_ID = re.compile(r"[0-9a-f]{32}")


def held_dir() -> Path:
    return Path(settings.AFFIANT_STORAGE_DIR) / "pdf-passwords"


def do_hold_password(password: str) -> str:
    """Keep `password` encrypted for one parse; returns the id a task carries instead of it."""
    folder = held_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    password_id = uuid.uuid4().hex
    fd = os.open(folder / password_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(encrypt(password.encode()))
    return password_id


def take_password(password_id: str) -> str | None:
    """The held password, its file removed as it is read; None when it was taken already, is older than HOLD_S,
    or was never held here (an id is only ever one of ours: it names a file)."""
    if not _ID.fullmatch(password_id):
        return None
    path = held_dir() / password_id
    # Renamed before it is read: of two deliveries of one message, only one gets the password.
    taken = path.with_name(f".{password_id}-{uuid.uuid4().hex}")
    try:
        path.rename(taken)
    except FileNotFoundError:
        logger.warning("a held PDF password was taken already or removed", extra={"password_id": password_id})
        return None
    try:
        plain = decrypt_recent(taken.read_bytes(), max_age_s=HOLD_S)
    finally:
        taken.unlink(missing_ok=True)
    if plain is None:
        logger.warning("a held PDF password expired before a worker took it", extra={"password_id": password_id})
        return None
    return plain.decode()


def remove_expired_passwords() -> int:
    """Remove the files of passwords no task took within HOLD_S (they no longer open); returns how many."""
    stale = time.time() - HOLD_S
    removed = 0
    for path in held_dir().glob("*"):
        try:
            if path.stat().st_mtime < stale:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # taken meanwhile
    return removed
