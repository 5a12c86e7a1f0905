"""Which flags stand between a draft and the attorney's approval, and how a resolved one is marked.

A sentence's flags say why the attorney should look at it. Two kinds only inform: `edited` (the
attorney's own wording) and `rewritten` (the guardrails' rewrite passed the faithfulness gate). Every
other flag is open, and blocks approval, until the attorney resolves it: by editing the sentence (new
wording carries only an `edited` flag), by removing it, or by accepting it with a reason, which stays
on the flag (`flag["resolved"]`) so the acceptance remains visible in every later version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from generation.models import DraftSection, DraftVersion

# Flags that inform and never block approval.
INFORMATIONAL = frozenset({"edited", "rewritten"})


def is_open(flag: dict[str, Any]) -> bool:
    return flag.get("kind") not in INFORMATIONAL and not flag.get("resolved")


@dataclass(frozen=True)
class OpenSentence:
    """A sentence of a version with flags still open: where it is, what it says, and why it is flagged."""

    key: str
    heading: str
    index: int  # 0-based, as the sentence's URL has it
    text: str
    flags: tuple[dict[str, Any], ...]

    @property
    def number(self) -> int:
        """The sentence's number within its section, as the attorney counts (from 1)."""
        return self.index + 1


def open_in_section(section: DraftSection) -> list[OpenSentence]:
    found = []
    for index, sentence in enumerate(section.sentences):
        flags = tuple(f for f in sentence.get("flags", []) if is_open(f))
        if flags:
            found.append(OpenSentence(section.key, section.heading, index, sentence["text"], flags))
    return found


def open_flags(version: DraftVersion) -> list[OpenSentence]:
    """Every sentence of the version whose flags are not all resolved, in the declaration's order."""
    return [found for section in version.sections.order_by("order") for found in open_in_section(section)]


def flag_count(found: Iterable[OpenSentence]) -> int:
    return sum(len(s.flags) for s in found)


def refusal(found: list[OpenSentence]) -> str:
    """Why the version cannot be approved yet, saying how many flags are open and where."""
    count = flag_count(found)
    by_section: dict[str, list[int]] = {}
    for sentence in found:
        by_section.setdefault(sentence.heading, []).append(sentence.number)
    where = "; ".join(
        f"{heading}: sentence{'s' if len(numbers) > 1 else ''} {_and(numbers)}"
        for heading, numbers in by_section.items()
    )
    verb = "flags are" if count != 1 else "flag is"
    return f"{count} {verb} open — {where}. Edit the sentence, remove it, or accept it with a reason before approving."


def _and(numbers: list[int]) -> str:
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def resolve(flag: dict[str, Any], *, how: str, reason: str, by: User) -> dict[str, Any]:
    """The flag, marked resolved by the attorney (the flag itself stays, so it is still shown)."""
    resolved = {"how": how, "reason": reason, "by": by.get_username(), "at": timezone.now().isoformat()}
    return {**flag, "resolved": resolved}
