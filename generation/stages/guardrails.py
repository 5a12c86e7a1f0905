"""Stage 4, guardrails: rewrite what the judges flagged, and never keep an unsupported sentence silently.

A sentence is a candidate when a judge flagged it or when the plain check (common.unsupported_reason)
finds it says what its facts do not. A candidate that cites facts is rewritten from those facts only;
a rewrite that still fails the check, or a sentence that cites nothing, is taken out of the draft and
becomes a note to the attorney, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from generation.stages.common import text_field, tokens_for, unsupported_reason
from generation.stages.draft import clean_sentence
from llmops.providers.base import Message


@dataclass(frozen=True)
class Candidate:
    index: int  # into the section's sentences
    judged: tuple[str, ...]  # what the judges said
    checked: tuple[str, ...]  # what the plain checks found

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.judged + self.checked))


_FIRST_PERSON = re.compile(r"\b(I|my|me|mine|myself|we|our|us)\b", re.IGNORECASE)


def voice_problem(text: str) -> str | None:
    return None if _FIRST_PERSON.search(text) else "it is not in the client's first-person voice"


def sources_of(sentence: dict[str, Any], facts_by_id: dict[str, dict[str, Any]]) -> list[str]:
    return [facts_by_id[i]["text"] for i in sentence["facts"] if i in facts_by_id]


def candidates(sentences: list[dict[str, Any]], facts_by_id: dict[str, dict[str, Any]]) -> list[Candidate]:
    found = []
    for index, sentence in enumerate(sentences):
        judged = tuple(f["reason"] or "flagged by a judge" for f in sentence["flags"] if f["kind"] == "judge")
        checked = tuple(
            problem
            for problem in (
                unsupported_reason(sentence["text"], sources_of(sentence, facts_by_id)),
                voice_problem(sentence["text"]),
            )
            if problem
        )
        if judged or checked:
            found.append(Candidate(index, judged, checked))
    return found


def schema(count: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "rewrites": {
                "type": "array",
                "items": text_field(settings.AFFIANT_SENTENCE_MAX_CHARS),
                "minItems": count,
                "maxItems": count,
            }
        },
        "required": ["rewrites"],
        "additionalProperties": False,
    }


def max_tokens(count: int) -> int:
    return tokens_for(count * (settings.AFFIANT_SENTENCE_MAX_CHARS + 10) + 30)


def build_messages(
    *,
    client_name: str,
    sentences: list[dict[str, Any]],
    chosen: list[Candidate],
    facts_by_id: dict[str, dict[str, Any]],
) -> list[Message]:
    blocks = []
    for number, candidate in enumerate(chosen, start=1):
        sentence = sentences[candidate.index]
        facts = "; ".join(sources_of(sentence, facts_by_id))
        blocks.append(
            f"{number}. Sentence: {sentence['text']}\n   Problem: {'; '.join(candidate.reasons)}\n   Facts: {facts}"
        )
    instructions = (
        f"Rewrite each sentence of {client_name}'s declaration so that it states only its facts, in the first "
        'person ("I", "my"), keeping the dates, places and names of the facts.'
    )
    return [
        Message(role="system", content="\n".join(blocks)),
        Message(role="user", content=f"{instructions}\nAnswer as JSON:"),
    ]


def apply(
    sentences: list[dict[str, Any]],
    chosen: list[Candidate],
    rewrites: list[str] | None,
    facts_by_id: dict[str, dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The section's sentences after the guardrails, and the notes for the attorney on what was removed.

    `rewrites` is None when no rewrite was asked for or the rewrite call failed."""
    notes: list[str] = []
    fixed = {c.index: c for c in chosen}
    kept: list[dict[str, Any]] = []
    for index, sentence in enumerate(sentences):
        candidate = fixed.get(index)
        if candidate is None:
            kept.append(sentence)
            continue
        sources = sources_of(sentence, facts_by_id)
        position = chosen.index(candidate)
        rewrite = clean_sentence(rewrites[position]) if rewrites and position < len(rewrites) else ""
        if (
            rewrite
            and len(rewrite.split()) >= 3
            and unsupported_reason(rewrite, sources) is None
            and not voice_problem(rewrite)
        ):
            flags = sentence["flags"] + [
                {"kind": "rewritten", "by": "guardrails", "reason": "; ".join(candidate.reasons)}
            ]
            kept.append({**sentence, "text": rewrite, "original": sentence["text"], "flags": flags})
        elif sources and unsupported_reason(sentence["text"], sources) is None:
            # Backed by its facts, and no better wording came: kept, with what is wrong shown on it.
            flags = sentence["flags"] + [
                {"kind": "guardrails", "by": "guardrails", "reason": problem} for problem in candidate.checked
            ]
            kept.append({**sentence, "flags": flags})
        else:
            notes.append(f'Removed "{sentence["text"]}": {"; ".join(candidate.reasons)}.')
    return kept, notes
