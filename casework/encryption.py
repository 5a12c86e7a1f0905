"""Case files encrypted at rest with Fernet (AES-128-CBC with HMAC-SHA256), keys from AFFIANT_FILE_KEYS.

The keys are a list, newest first: a file is encrypted with the first and opens with any of them, so a
key is rotated by putting a new one in front, re-encrypting every file (`manage.py rotate_file_keys`),
then dropping the old one. Without AFFIANT_FILE_KEYS (only allowed outside production, where settings
refuse to start) a key is generated once into AFFIANT_FILE_KEY_FILE, readable by its owner alone.

Fernet encrypts a whole message at once, so a file is held in memory whole while it is encrypted or
decrypted: about three times its size at the peak (plaintext, ciphertext, base64). Uploads are capped
by AFFIANT_MAX_UPLOAD_BYTES (50 MB), which keeps that affordable; a much larger cap would need a
streaming format instead.

Files stored in plaintext by versions before encryption are read as they are (they never start like
a Fernet token) and encrypted by `rotate_file_keys`, which should be run once after upgrading.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

logger = logging.getLogger(__name__)

# Every Fernet token starts with its version byte 0x80 and a 64-bit timestamp whose high bytes are zero
# for thousands of years, which base64 spells like this. No PDF or Word file starts this way.
TOKEN_PREFIX = b"gAAAAA"


class FileKeyError(Exception):
    """A stored file opens with none of the configured keys: the keys are wrong, or the file is damaged."""


def is_encrypted(blob: bytes) -> bool:
    return blob.startswith(TOKEN_PREFIX)


def encrypt(data: bytes) -> bytes:
    return _keys().encrypt(data)


def decrypt(blob: bytes, *, label: str) -> bytes:
    """The plaintext of a stored file; `label` names it in the error (an id, never a file name).

    A file stored in plaintext by an earlier version comes back as it is.
    """
    if not is_encrypted(blob):
        logger.warning("stored file is not encrypted yet; run rotate_file_keys", extra={"file": label})
        return blob
    try:
        return _keys().decrypt(blob)
    except InvalidToken:
        raise FileKeyError(_cannot_open(label)) from None


def is_current(blob: bytes) -> bool:
    """Whether the file is encrypted with the newest key already."""
    if not is_encrypted(blob):
        return False
    try:
        Fernet(file_keys()[0]).decrypt(blob)
    except InvalidToken:
        return False
    return True


def reencrypt(blob: bytes, *, label: str) -> bytes:
    """The file encrypted with the newest key, whatever key (or none) it was stored with."""
    if not is_encrypted(blob):
        return encrypt(blob)
    try:
        return _keys().rotate(blob)
    except InvalidToken:
        raise FileKeyError(_cannot_open(label)) from None


def file_keys() -> list[str]:
    """The configured keys, newest first; outside production, the local key file's when none are set."""
    keys = list(settings.AFFIANT_FILE_KEYS)
    return keys or [local_file_key(Path(settings.AFFIANT_FILE_KEY_FILE))]


@functools.cache
def local_file_key(path: Path) -> str:
    """The key in `path`, generated there (mode 0600) on first use. Safe when several processes start at once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".file-key-")  # created with mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key() + b"\n")
                out.flush()
                os.fsync(out.fileno())
            # A link, unlike a rename, fails when the name exists: the first process's key wins for all.
            os.link(tmp, path)
            logger.warning(
                "AFFIANT_FILE_KEYS is unset: generated a local key for files at rest; set it in production",
                extra={"key_file": str(path)},
            )
        except FileExistsError:
            pass
        finally:
            Path(tmp).unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        logger.warning("the local file key is readable by others; chmod 600 it", extra={"key_file": str(path)})
    return path.read_text().strip()


def _keys() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in file_keys()])


def _cannot_open(label: str) -> str:
    return (
        f"stored file {label} cannot be decrypted with any key in AFFIANT_FILE_KEYS: "
        "a key it was encrypted with is missing, or the file is damaged"
    )
