"""Chunking and embedding a document's pages, and keeping its case's index in step."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction

from casework.chunking import chunk_pages
from casework.embeddings import embed, to_bytes
from casework.models import Chunk, Document, Page, PiiFinding
from casework.vectors import rebuild_index

logger = logging.getLogger(__name__)


def index_document(document_id: int) -> int:
    """Replace the document's chunks with fresh ones from its pages; returns how many it has."""
    document = Document.objects.get(pk=document_id)
    pages = list(
        Page.objects.filter(document=document, needs_ocr=False).order_by("number").values_list("number", "text")
    )
    started = time.monotonic()
    pieces = chunk_pages(pages)
    vectors = embed([p.text for p in pieces])
    with transaction.atomic():
        Chunk.objects.filter(document=document).delete()
        Chunk.objects.bulk_create(
            Chunk(
                document=document,
                case_id=document.case_id,
                ordinal=i,
                page_start=piece.page_start,
                page_end=piece.page_end,
                text=piece.text,
                embedding=to_bytes(vectors[i]),
            )
            for i, piece in enumerate(pieces)
        )
    rebuild_index(document.case_id)
    if settings.AFFIANT_PII_DETECTION:
        screen_document(document)
    logger.info(
        "document indexed",
        extra={"document_id": document_id, "chunks": len(pieces), "seconds": round(time.monotonic() - started, 3)},
    )
    return len(pieces)


def screen_document(document: Document) -> int:
    """Find the PII on each page (Presidio, our recognizers, the case's known parties) and record where."""
    from casework.pii_detect import KnownParties, detect_pii  # loads spaCy on first use

    known = KnownParties.for_case(document.case)
    chunks = list(Chunk.objects.filter(document=document).only("id", "page_start", "page_end"))
    findings = []
    for page in Page.objects.filter(document=document, needs_ocr=False).only("id", "number", "text"):
        covering = next((c for c in chunks if c.page_start <= page.number <= c.page_end), None)
        for finding in detect_pii(page.text, known=known):
            findings.append(
                PiiFinding(
                    page=page,
                    chunk=covering,
                    kind=finding.kind,
                    start=finding.start,
                    end=finding.end,
                    source=finding.source,
                    score=round(finding.score, 3),
                )
            )
    with transaction.atomic():
        PiiFinding.objects.filter(page__document=document).delete()
        PiiFinding.objects.bulk_create(findings)
    return len(findings)


def remove_document(document: Document) -> None:
    """Delete a document with its chunks, then bring its case's index back in step."""
    case_id = document.case_id
    document.delete()
    rebuild_index(case_id)
