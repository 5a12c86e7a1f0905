"""Turning a stored file into pages of text, chunks, embeddings and PII findings.

The file is parsed in a separate, resource-limited process (casework.parsing), so a hostile PDF can
cost that child its life but never the worker's. Every page ends up either with text (read or OCR'd)
or visibly without it, and every document with one outcome: indexed, needs_ocr, needs_password, or
rejected with a reason a paralegal understands.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from casework.models import Document, DocumentStatus, Page
from casework.parsing import ParseResult, parse_file
from casework.uploads import decrypted_copy

logger = logging.getLogger(__name__)

# A page with fewer visible characters than this has no text to speak of (an image, a blank page).
_MIN_TEXT_CHARS = 3

_OUTCOMES = {
    "indexed": DocumentStatus.INDEXED,
    "needs_ocr": DocumentStatus.NEEDS_OCR,
    "needs_password": DocumentStatus.NEEDS_PASSWORD,
    "rejected": DocumentStatus.REJECTED,
}


@dataclass(frozen=True)
class IngestResult:
    document_id: int
    status: str
    pages: int
    pages_needing_ocr: int


def claim_document(document_id: int) -> bool:
    """Move a queued document to processing; only one worker wins, so a redelivery is harmless."""
    claimed = Document.objects.filter(pk=document_id, status=DocumentStatus.QUEUED).update(
        status=DocumentStatus.PROCESSING, error="", claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    return claimed == 1


def parse_document(document: Document, password: str | None = None) -> ParseResult:
    # The file is stored encrypted; the parser's child reads a private plaintext copy, gone when it is done.
    with decrypted_copy(document.stored_name) as path:
        return parse_file(
            path,
            max_pages=settings.AFFIANT_MAX_PAGES,
            password=password,
            timeout_s=settings.AFFIANT_PARSE_TIMEOUT_S,
            memory_mb=settings.AFFIANT_PARSE_MEMORY_MB,
            ocr=settings.AFFIANT_OCR,
        )


def ingest_document(document_id: int, password: str | None = None) -> IngestResult | None:
    """Parse, store and index a claimed document. Returns None when another worker has it or it vanished.

    `password` (from an attorney, for an encrypted PDF) is used for this parse only: never stored or logged.
    """
    if not claim_document(document_id):
        return None
    document = Document.objects.get(pk=document_id)
    started = time.monotonic()
    try:
        result = parse_document(document, password)
    except Exception:
        logger.exception("parsing crashed", extra={"document_id": document_id})
        _finish(document_id, DocumentStatus.REJECTED, "The file could not be processed.")
        raise
    status = _OUTCOMES.get(result.outcome, DocumentStatus.REJECTED)
    if status in (DocumentStatus.NEEDS_PASSWORD, DocumentStatus.REJECTED):
        _finish(document_id, status, result.reason or "The file could not be read.")
        logger.info("document not indexed", extra={"document_id": document_id, "status": status})
        return IngestResult(document_id=document_id, status=status, pages=0, pages_needing_ocr=0)
    blank = [p for p in result.pages if len(p.text.strip()) < _MIN_TEXT_CHARS]
    with transaction.atomic():
        Page.objects.filter(document=document).delete()
        Page.objects.bulk_create(
            Page(
                document=document,
                number=p.number,
                text=p.text,
                needs_ocr=len(p.text.strip()) < _MIN_TEXT_CHARS,
                ocr=p.ocr,
            )
            for p in result.pages
        )
        Document.objects.filter(pk=document_id).update(
            # pages_done counts pages as screening finishes them: the case page shows it live.
            page_count=len(result.pages),
            pages_done=0,
            content_type=result.content_type,
        )
    # Searchable and screened before the document says it is ready.
    from casework.indexing import index_document  # the embedding and NER models load on first use

    index_document(document_id)
    _finish(document_id, status, result.reason if status == DocumentStatus.NEEDS_OCR else "")
    logger.info(
        "document ingested",
        extra={
            "document_id": document_id,
            "status": status,
            "pages": len(result.pages),
            "pages_without_text": len(blank),
            "ocr_pages": sum(p.ocr for p in result.pages),
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return IngestResult(document_id=document_id, status=status, pages=len(result.pages), pages_needing_ocr=len(blank))


def _finish(document_id: int, status: str, reason: str) -> None:
    Document.objects.filter(pk=document_id).update(status=status, error=reason, processed_at=timezone.now())
