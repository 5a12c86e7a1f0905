"""Finding the passages of a case that answer a question: the one retrieval function every caller uses.

A case's documents are chunked and embedded with MiniLM when they are ingested, and searched through
the case's FAISS index (cosine similarity). Pages not yet chunked (a case ingested before chunking,
or while its documents are still being read) fall back to lexical BM25 over page passages, scaled to
the same 0..1 range so one threshold serves both.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, replace

from casework.models import Case, Chunk, Page

_WORD = re.compile(r"[a-zA-Z\u00C0-\u024F0-9']+")
STOP_WORDS = frozenset(
    "a an and are as at be by for from had has have he her his i in is it its me my of on or our she "
    "that the their them they this to was we were what when where which who with you your did do".split()
)
# Passages near this size keep a prompt short and still carry a whole incident.
_PASSAGE_CHARS = 700


@dataclass(frozen=True)
class Passage:
    document_id: int
    document_name: str
    page_number: int
    text: str
    score: float
    page_end: int | None = None
    chunk_id: int | None = None


def _terms(text: str) -> list[str]:
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in STOP_WORDS and len(w) > 1]


def split_passages(text: str, size: int = _PASSAGE_CHARS) -> list[str]:
    """Split page text at paragraph, then sentence, boundaries into passages of about `size`."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    passages: list[str] = []
    current = ""
    for paragraph in paragraphs:
        pieces = [paragraph] if len(paragraph) <= size else re.split(r"(?<=[.!?])\s+", paragraph)
        for piece in pieces:
            if current and len(current) + len(piece) + 1 > size:
                passages.append(current)
                current = ""
            current = f"{current} {piece}".strip() if current else piece
            while len(current) > size * 2:
                passages.append(current[:size])
                current = current[size:]
    if current:
        passages.append(current)
    return passages


def search_case(case: Case, query: str, k: int = 5) -> list[Passage]:
    """The k passages of the case that best answer `query`, best first (scores 0..1)."""
    if Chunk.objects.filter(case=case, embedding__isnull=False).exists():
        return _semantic(case, query, k)
    return _lexical(case, query, k)


def _semantic(case: Case, query: str, k: int) -> list[Passage]:
    from casework.vectors import search_vectors  # loads FAISS and, on first use, the embedding model

    hits = search_vectors(case, query, k)
    # Scoped to the case again: the index file is a cache, and one that is stale (restored from a backup, copied
    # from another case) may name chunks that are not this case's. Those are dropped, never shown.
    chunks = Chunk.objects.filter(case=case).select_related("document").in_bulk([h.chunk_id for h in hits])
    passages = []
    for hit in hits:
        chunk = chunks.get(hit.chunk_id)
        if chunk is None or not chunk.document.is_usable:
            continue
        passages.append(
            Passage(
                document_id=chunk.document_id,
                document_name=chunk.document.original_name,
                page_number=chunk.page_start,
                page_end=chunk.page_end,
                text=chunk.text,
                score=max(0.0, hit.score),
                chunk_id=chunk.pk,
            )
        )
    return passages


def _lexical(case: Case, query: str, k: int) -> list[Passage]:
    pages = (
        Page.objects.filter(document__case=case, needs_ocr=False)
        .select_related("document")
        .only("number", "text", "document__id", "document__original_name", "document__status")
    )
    candidates: list[tuple[Page, str, Counter[str]]] = []
    for page in pages:
        if not page.document.is_usable:
            continue
        for passage in split_passages(page.text):
            candidates.append((page, passage, Counter(_terms(passage))))
    if not candidates:
        return []
    query_terms = set(_terms(query))
    doc_freq: Counter[str] = Counter()
    for _, _, counts in candidates:
        doc_freq.update(set(counts) & query_terms)
    total = len(candidates)
    avg_len = sum(sum(c.values()) for _, _, c in candidates) / total or 1.0
    scored: list[Passage] = []
    for page, text, counts in candidates:
        length = sum(counts.values()) or 1
        score = 0.0
        for term in query_terms:
            tf = counts.get(term, 0)
            if not tf:
                continue
            idf = math.log(1 + (total - doc_freq[term] + 0.5) / (doc_freq[term] + 0.5))
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avg_len))
        scored.append(
            Passage(
                document_id=page.document.pk,
                document_name=page.document.original_name,
                page_number=page.number,
                text=text,
                score=score,
            )
        )
    scored.sort(key=lambda p: (-p.score, p.document_id, p.page_number))
    top = scored[0].score if scored and scored[0].score > 0 else 1.0
    return [replace(p, score=p.score / top) for p in scored[:k]]
