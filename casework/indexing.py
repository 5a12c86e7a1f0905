"""Chunking and embedding a document's pages, and keeping its case's index in step."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F

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
    else:
        Document.objects.filter(pk=document.pk).update(pages_done=F("page_count"))
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
    pages = list(Page.objects.filter(document=document).only("id", "number", "text", "needs_ocr"))
    for done, page in enumerate(pages, start=1):
        Document.objects.filter(pk=document.pk).update(pages_done=done)
        if page.needs_ocr:
            continue
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


def do_remove_document(document: Document) -> None:
    """Delete a document with its pages, chunks and findings and its stored file, then bring its case's
    index back in step. The runs that read it are marked and their calls' text blanked (casework.purge)."""
    from casework.purge import do_forget_document
    from casework.uploads import storage_path

    case_id = document.case_id
    path = storage_path(document.stored_name)
    do_forget_document(document)
    document.delete()
    path.unlink(missing_ok=True)
    rebuild_index(case_id)
