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
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from config.keyfile import installation_secret

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


def decrypt_recent(blob: bytes, *, max_age_s: int) -> bytes | None:
    """The plaintext of a token encrypted here at most `max_age_s` ago (Fernet keeps the time it was made, under
    its signature); None when it is older, or no configured key opens it."""
    try:
        return _keys().decrypt(blob, ttl=max_age_s)
    except InvalidToken:
        return None


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
    """The key in `path`, generated there (mode 0600) on first use."""
    return installation_secret(path, generate=Fernet.generate_key, variable="AFFIANT_FILE_KEYS")


def _keys() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in file_keys()])


def _cannot_open(label: str) -> str:
    return (
        f"stored file {label} cannot be decrypted with any key in AFFIANT_FILE_KEYS: "
        "a key it was encrypted with is missing, or the file is damaged"
    )
