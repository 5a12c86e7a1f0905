"""Storing uploaded case files outside the web root, encrypted (casework.encryption), and reading them back.

Plaintext never reaches storage: an upload is checked and hashed in memory, then written encrypted.
Decrypted bytes live in memory, or for the parser's child process, which needs a path, in a private
temporary file that is deleted when parsing ends.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from casework.encryption import FileKeyError, decrypt, encrypt, is_current, is_encrypted, reencrypt
from casework.models import Case, Document
from casework.parsing import DOCX, PDF, rejection_reason, sniff_stream
from casework.upload_limit import too_large_message

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_EXTENSIONS = {PDF: ".pdf", DOCX: ".docx"}


class UploadRejected(ValueError):
    """The file cannot be accepted; the message is written for a paralegal."""


@dataclass(frozen=True)
class StoredUpload:
    document: Document
    duplicate: bool


def storage_path(stored_name: str) -> Path:
    return Path(settings.AFFIANT_STORAGE_DIR) / stored_name


def do_store_upload(*, case: Case, name: str, stream: IO[bytes], uploaded_by: User | None) -> StoredUpload:
    """Read the upload into memory while hashing it, store it encrypted, then record it; a second copy is
    not stored.

    Nothing is written until the file is accepted, so a rejected or duplicate upload leaves nothing behind.
    """
    limit = settings.AFFIANT_MAX_UPLOAD_BYTES
    (Path(settings.AFFIANT_STORAGE_DIR) / str(case.pk)).mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    size = 0
    # Fernet encrypts whole messages, so the file is held in memory; the size limit bounds it (50 MB).
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise UploadRejected(too_large_message())
        digest.update(chunk)
        chunks.append(chunk)
    if size == 0:
        raise UploadRejected("The file is empty.")
    data = b"".join(chunks)
    del chunks
    # The type comes from the bytes, never from the name the browser sent.
    content_type = sniff_stream(io.BytesIO(data))
    refusal = rejection_reason(content_type)
    if refusal is not None or content_type is None:
        raise UploadRejected(refusal or "The file is not a PDF or Word document.")
    sha256 = digest.hexdigest()
    existing = Document.objects.filter(case=case, sha256=sha256).first()
    if existing is not None:
        return StoredUpload(document=existing, duplicate=True)
    stored_name = f"{case.pk}/{uuid.uuid4().hex}{_EXTENSIONS.get(content_type, '')}"
    _write_whole(storage_path(stored_name), encrypt(data))
    try:
        with transaction.atomic():
            document = Document.objects.create(
                case=case,
                original_name=Path(name).name[:255] or "upload.pdf",
                stored_name=stored_name,
                sha256=sha256,
                size=size,
                content_type=content_type,
                uploaded_by=uploaded_by,
            )
    except IntegrityError:
        # The same file arrived twice at once: keep the first, drop our copy.
        storage_path(stored_name).unlink(missing_ok=True)
        return StoredUpload(document=Document.objects.get(case=case, sha256=sha256), duplicate=True)
    return StoredUpload(document=document, duplicate=False)


def read_stored(stored_name: str) -> bytes:
    """The decrypted bytes of a stored file. Raises FileNotFoundError, or FileKeyError when no key opens it."""
    return decrypt(storage_path(stored_name).read_bytes(), label=stored_name)


# A copy lives while one file is parsed, which AFFIANT_PARSE_TIMEOUT_S bounds; one much older was left by
# a worker that was killed mid-parse, and is removed by the next parse on this machine.
_COPY_PREFIX = "affiant-plain-"
_STALE_COPY_MARGIN_S = 300


@contextmanager
def decrypted_copy(stored_name: str) -> Iterator[Path]:
    """The decrypted file in a private temporary file (mode 0600), for a child process that needs a path.

    It is deleted when the block ends. It is written under TMPDIR: put that on a tmpfs to keep the
    plaintext off disk entirely.
    """
    data = read_stored(stored_name)
    _remove_stale_copies()
    fd, name = tempfile.mkstemp(prefix=_COPY_PREFIX, suffix=Path(stored_name).suffix)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        del data
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _remove_stale_copies() -> None:
    stale = time.time() - settings.AFFIANT_PARSE_TIMEOUT_S - _STALE_COPY_MARGIN_S
    for path in Path(tempfile.gettempdir()).glob(f"{_COPY_PREFIX}*"):
        try:
            info = path.lstat()
            if path.is_file() and not path.is_symlink() and info.st_uid == os.getuid() and info.st_mtime < stale:
                path.unlink()
        except OSError:
            continue  # gone meanwhile, or not ours to remove


@dataclass(frozen=True)
class RotationReport:
    rotated: int  # re-encrypted with the newest key
    encrypted: int  # stored in plaintext by an earlier version, now encrypted
    current: int  # encrypted with the newest key already: left alone
    missing: int  # a document whose file is not in storage
    failed: tuple[int, ...]  # ids of documents whose file no configured key opens


def do_rotate_file_keys() -> RotationReport:
    """Re-encrypt every document's stored file with the newest key in AFFIANT_FILE_KEYS.

    Each file is replaced whole (a temporary file renamed over it), so readers see the old file or the
    new one, both readable while the old key is still configured. A file already under the newest key
    is left alone, so running it again, or after an interruption, only finishes the job.
    """
    rotated = encrypted = current = missing = 0
    failed: list[int] = []
    started = time.monotonic()
    documents = Document.objects.order_by("pk").values_list("pk", "stored_name")
    for document_id, stored_name in documents.iterator(chunk_size=500):
        path = storage_path(stored_name)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            missing += 1
            continue
        if is_current(blob):
            current += 1
            continue
        try:
            new_blob = reencrypt(blob, label=stored_name)
        except FileKeyError:
            logger.error("stored file opens with no configured key", extra={"document_id": document_id})
            failed.append(document_id)
            continue
        was_plaintext = not is_encrypted(blob)
        _write_whole(path, new_blob)
        if not Document.objects.filter(pk=document_id).exists():
            # Removed while we worked: our rename may have put its file back.
            path.unlink(missing_ok=True)
            continue
        if was_plaintext:
            encrypted += 1
        else:
            rotated += 1
    report = RotationReport(
        rotated=rotated, encrypted=encrypted, current=current, missing=missing, failed=tuple(failed)
    )
    logger.info(
        "file keys rotated",
        extra={
            "rotated": rotated,
            "encrypted": encrypted,
            "current": current,
            "missing": missing,
            "failed": len(failed),
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return report


def _write_whole(path: Path, blob: bytes) -> None:
    """Write to a temporary name beside `path` and rename it over `path`: all of it or none of it."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".write-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
