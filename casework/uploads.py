"""Storing uploaded case files outside the web root."""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from casework.models import Case, Document
from casework.parsing import DOCX, PDF, rejection_reason, sniff_file

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
    """Copy the upload to storage while hashing it, then record it; a second copy is not stored.

    The file is written to a temporary name first and renamed only when it is accepted, so a
    rejected or duplicate upload leaves nothing behind.
    """
    limit = settings.AFFIANT_MAX_UPLOAD_BYTES
    root = Path(settings.AFFIANT_STORAGE_DIR)
    (root / str(case.pk)).mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=root / str(case.pk), prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadRejected(f"The file is larger than the limit of {limit // (1024 * 1024)} MB.")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise UploadRejected("The file is empty.")
        # The type comes from the bytes, never from the name the browser sent.
        content_type = sniff_file(Path(tmp_name))
        refusal = rejection_reason(content_type)
        if refusal is not None or content_type is None:
            raise UploadRejected(refusal or "The file is not a PDF or Word document.")
        sha256 = digest.hexdigest()
        existing = Document.objects.filter(case=case, sha256=sha256).first()
        if existing is not None:
            return StoredUpload(document=existing, duplicate=True)
        stored_name = f"{case.pk}/{uuid.uuid4().hex}{_EXTENSIONS.get(content_type, '')}"
        os.replace(tmp_name, storage_path(stored_name))
        tmp_name = ""
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
    finally:
        if tmp_name:
            Path(tmp_name).unlink(missing_ok=True)
