"""Splitting a document's pages into passages that follow its structure and remember their pages.

Paragraphs (blank lines) and headings (short lines in capitals, or ending in a colon) are the units;
units are packed into chunks of about CHUNK_CHARS, a heading always opening a new chunk, and each chunk
but the first repeats the last sentence of the one before, so a fact cut at the border is whole in one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHUNK_CHARS = 900
OVERLAP_CHARS = 200

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class ChunkText:
    text: str
    page_start: int
    page_end: int


@dataclass(frozen=True)
class _Unit:
    text: str
    page: int
    heading: bool


def _is_heading(line: str) -> bool:
    stripped = line.strip()
    if not stripped or len(stripped) > 80:
        return False
    letters = [c for c in stripped if c.isalpha()]
    return (bool(letters) and all(c.isupper() for c in letters) and len(letters) > 3) or (
        stripped.endswith(":") and len(stripped.split()) <= 6
    )


def _units(pages: list[tuple[int, str]]) -> list[_Unit]:
    units: list[_Unit] = []
    for number, text in pages:
        for block in re.split(r"\n\s*\n", text):
            lines = [line for line in block.splitlines() if line.strip()]
            buffer: list[str] = []
            for line in lines:
                if _is_heading(line):
                    if buffer:
                        units.append(_Unit(" ".join(buffer), number, False))
                        buffer = []
                    units.append(_Unit(line.strip(), number, True))
                else:
                    buffer.append(line.strip())
            if buffer:
                units.append(_Unit(" ".join(buffer), number, False))
    return units


def _tail(text: str) -> str:
    """The last sentence (or so) of a chunk, carried into the next as overlap."""
    sentences = _SENTENCE_END.split(text)
    tail = ""
    for sentence in reversed(sentences):
        if len(tail) + len(sentence) > OVERLAP_CHARS and tail:
            break
        tail = f"{sentence} {tail}".strip()
    return tail[-OVERLAP_CHARS * 2 :]


def chunk_pages(pages: list[tuple[int, str]]) -> list[ChunkText]:
    """Chunks of (page number, text) pages, in order."""
    chunks: list[ChunkText] = []
    parts: list[str] = []
    start = end = 0

    def flush() -> None:
        nonlocal parts
        text = " ".join(parts).strip()
        if text:
            chunks.append(ChunkText(text=text, page_start=start, page_end=end))
        parts = []

    for unit in _units(pages):
        pieces = [unit.text] if len(unit.text) <= CHUNK_CHARS else _SENTENCE_END.split(unit.text)
        for piece in pieces:
            size = sum(len(p) + 1 for p in parts)
            if parts and (unit.heading or size + len(piece) > CHUNK_CHARS):
                previous_tail = "" if unit.heading else _tail(" ".join(parts))
                flush()
                if previous_tail:
                    parts = [previous_tail]
                    start = end
            if not parts:
                start = unit.page
            parts.append(piece)
            end = unit.page
    flush()
    return chunks
