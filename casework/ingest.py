"""Turning a stored PDF into pages of text."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError

from casework.models import Document, DocumentStatus, Page
from casework.uploads import storage_path

logger = logging.getLogger(__name__)

# A page with fewer visible characters than this is treated as an image that needs OCR.
_MIN_TEXT_CHARS = 3


class IngestFailed(Exception):
    """The document cannot be read; the message is written for a paralegal."""


@dataclass(frozen=True)
class IngestResult:
    document_id: int
    status: str
    pages: int
    pages_needing_ocr: int


def claim_document(document_id: int) -> bool:
    """Move a queued document to processing; only one worker wins, so a redelivery is harmless."""
    claimed = Document.objects.filter(pk=document_id, status=DocumentStatus.QUEUED).update(
        status=DocumentStatus.PROCESSING, error=""
    )
    return claimed == 1


def extract_pages(document: Document) -> list[str]:
    path = storage_path(document.stored_name)
    try:
        reader = PdfReader(path, strict=False)
    except (PdfReadError, ValueError, OSError) as exc:
        raise IngestFailed(f"The file could not be read as a PDF ({type(exc).__name__}).") from exc
    if reader.is_encrypted:
        try:
            # Many "protected" PDFs only restrict printing and open with an empty password.
            if not reader.decrypt(""):
                raise IngestFailed("The PDF is password-protected. Upload an unlocked copy.")
        except FileNotDecryptedError as exc:
            raise IngestFailed("The PDF is password-protected. Upload an unlocked copy.") from exc
        except NotImplementedError as exc:
            raise IngestFailed("The PDF uses an encryption this system cannot open.") from exc
    try:
        page_total = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise IngestFailed("The PDF is password-protected. Upload an unlocked copy.") from exc
    except (PdfReadError, ValueError, KeyError, RecursionError) as exc:
        raise IngestFailed(f"The PDF is damaged and its pages cannot be listed ({type(exc).__name__}).") from exc
    if page_total == 0:
        raise IngestFailed("The PDF has no pages.")
    if page_total > settings.AFFIANT_MAX_PAGES:
        raise IngestFailed(f"The PDF has {page_total} pages; the limit is {settings.AFFIANT_MAX_PAGES}.")
    texts: list[str] = []
    for index, page in enumerate(reader.pages):
        try:
            texts.append(page.extract_text() or "")
        except Exception:  # pypdf raises many types on odd pages; one bad page must not sink the file
            logger.warning("page text extraction failed", extra={"document_id": document.pk, "page": index + 1})
            texts.append("")
    return texts


def ingest_document(document_id: int) -> IngestResult | None:
    """Extract a claimed document's pages. Returns None when another worker has it or it vanished."""
    if not claim_document(document_id):
        return None
    document = Document.objects.get(pk=document_id)
    started = time.monotonic()
    try:
        texts = extract_pages(document)
    except IngestFailed as exc:
        _fail(document, str(exc))
        return IngestResult(document_id=document_id, status=DocumentStatus.FAILED, pages=0, pages_needing_ocr=0)
    except Exception as exc:
        logger.exception("ingest crashed", extra={"document_id": document_id})
        _fail(document, f"The file could not be processed ({type(exc).__name__}).")
        raise
    needing_ocr = sum(1 for text in texts if len(text.strip()) < _MIN_TEXT_CHARS)
    status = DocumentStatus.NEEDS_OCR if needing_ocr else DocumentStatus.READY
    with transaction.atomic():
        Page.objects.filter(document=document).delete()
        Page.objects.bulk_create(
            Page(document=document, number=i + 1, text=text, needs_ocr=len(text.strip()) < _MIN_TEXT_CHARS)
            for i, text in enumerate(texts)
        )
        Document.objects.filter(pk=document_id).update(
            status=status,
            page_count=len(texts),
            pages_done=len(texts),
            processed_at=timezone.now(),
        )
    if status != DocumentStatus.FAILED:
        from casework.indexing import index_document  # the embedding model loads on first use

        index_document(document_id)
    logger.info(
        "document ingested",
        extra={
            "document_id": document_id,
            "pages": len(texts),
            "pages_needing_ocr": needing_ocr,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return IngestResult(document_id=document_id, status=status, pages=len(texts), pages_needing_ocr=needing_ocr)


def _fail(document: Document, reason: str) -> None:
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.FAILED, error=reason, processed_at=timezone.now()
    )
    logger.info("document failed", extra={"document_id": document.pk})
