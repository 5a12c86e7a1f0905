"""Comparing two versions of a draft, section by section, word by word."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from generation.models import DraftVersion


@dataclass(frozen=True)
class Piece:
    text: str
    kind: str  # "same" | "added" | "removed"


@dataclass(frozen=True)
class SectionDiff:
    key: str
    heading: str
    pieces: list[Piece]

    @property
    def changed(self) -> bool:
        return any(p.kind != "same" for p in self.pieces)


def _tokens(text: str) -> list[str]:
    # Words with the space after them, so joining the pieces gives the text back.
    return re.findall(r"\S+\s*", text)


def word_diff(before: str, after: str) -> list[Piece]:
    old, new = _tokens(before), _tokens(after)
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(Piece("".join(old[i1:i2]), "same"))
            continue
        if i2 > i1:
            pieces.append(Piece("".join(old[i1:i2]), "removed"))
        if j2 > j1:
            pieces.append(Piece("".join(new[j1:j2]), "added"))
    return pieces


def compare_versions(a: DraftVersion, b: DraftVersion) -> list[SectionDiff]:
    """Every section of either version, in order; a section only one has shows as all added/removed."""
    before = {s.key: s for s in a.sections.all()}
    after = {s.key: s for s in b.sections.all()}
    order = sorted(set(before) | set(after), key=lambda k: (after.get(k) or before[k]).order)
    diffs = []
    for key in order:
        old, new = before.get(key), after.get(key)
        heading = (new or old).heading  # type: ignore[union-attr]
        diffs.append(SectionDiff(key, heading, word_diff(old.text if old else "", new.text if new else "")))
    return diffs
