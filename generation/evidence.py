"""What the review screen shows beside a sentence: its facts, and the pages they come from with the
cited passage marked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from casework.models import Case, Chunk, Page

_SENTENCES = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool


@dataclass(frozen=True)
class CitedPage:
    document_id: int
    document_name: str
    number: int
    segments: list[Segment]
    found: bool  # whether the passage could be located on the page (OCR text may differ)


def highlight(page_text: str, passage: str) -> list[Segment]:
    """The page as segments, the passage's sentences marked where they occur (whitespace may differ:
    chunks join a page's lines with spaces)."""
    spans: list[tuple[int, int]] = []
    for sentence in _SENTENCES.split(passage):
        words = sentence.split()
        if len(words) < 3:
            continue
        pattern = r"\s+".join(re.escape(w) for w in words)
        if match := re.search(pattern, page_text):
            spans.append(match.span())
    spans = _merge(sorted(spans))
    segments: list[Segment] = []
    position = 0
    for start, end in spans:
        if start > position:
            segments.append(Segment(page_text[position:start], False))
        segments.append(Segment(page_text[start:end], True))
        position = end
    if position < len(page_text):
        segments.append(Segment(page_text[position:], False))
    return segments


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def is_record(fact: dict[str, Any]) -> bool:
    """Whether a fact comes from the case record (generation.record) rather than a page."""
    return fact.get("source") == "record"


def cited_record(sentence: dict[str, Any], facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The facts of the case record a sentence cites: shown as "Case record" with the recorded field."""
    facts_by_id = {f["id"]: f for f in facts}
    return [facts_by_id[i] for i in sentence.get("facts", []) if i in facts_by_id and is_record(facts_by_id[i])]


def cited_pages(case: Case, sentence: dict[str, Any], facts: list[dict[str, Any]]) -> list[CitedPage]:
    """Each page a sentence's facts come from, with the passage behind each fact marked. Only the
    case's own documents are read, whatever the stored ids say. Facts of the case record have no page:
    see cited_record."""
    facts_by_id = {f["id"]: f for f in facts}
    cited = [f for f in (facts_by_id[i] for i in sentence.get("facts", []) if i in facts_by_id) if not is_record(f)]
    chunk_ids = [f["chunk_id"] for f in cited if f.get("chunk_id")]
    chunks = Chunk.objects.filter(case=case, pk__in=chunk_ids).in_bulk()
    passages_by_page: dict[tuple[int, int], list[str]] = {}
    for fact in cited:
        chunk = chunks.get(fact.get("chunk_id"))
        if chunk is None:
            passages_by_page.setdefault((fact["document_id"], fact["page"]), []).append(fact["text"])
            continue
        for number in range(chunk.page_start, chunk.page_end + 1):
            passages_by_page.setdefault((chunk.document_id, number), []).append(chunk.text)
    pages = Page.objects.filter(document__case=case).select_related("document")
    result = []
    for (document_id, number), passages in passages_by_page.items():
        page = pages.filter(document_id=document_id, number=number).first()
        if page is None or not page.document.is_usable:
            continue
        segments = highlight(page.text, " ".join(passages))
        result.append(
            CitedPage(
                document_id=document_id,
                document_name=page.document.original_name,
                number=number,
                segments=segments,
                found=any(s.marked for s in segments),
            )
        )
    return result
