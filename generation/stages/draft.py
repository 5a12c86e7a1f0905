"""The draft stage: one section in the client's first-person voice, from the case's evidence only."""

from __future__ import annotations

import re

from casework.search import Passage
from generation.declarations import SectionSpec
from llmops.providers.base import Message

# The draft is primed with the first word so a base model starts in the first person.
PRIMER = "I"
# One paragraph per section: a small base model that goes on past a blank line starts repeating itself.
STOP = ("\n\n",)
_MIN_WORDS = 4
# Passages are trimmed to this many characters in the prompt: short prompts keep a small model on track.
_PASSAGE_PROMPT_CHARS = 600


def build_messages(*, client_name: str, section: SectionSpec, passages: list[Passage]) -> list[Message]:
    # Ranked best first: when the prompt must shrink to fit the model, the context guard drops the last.
    excerpts = tuple(
        f'[{i}] {p.document_name}, page {p.page_number}: "{_whole_sentences(_squash(p.text), _PASSAGE_PROMPT_CHARS)}"'
        for i, p in enumerate(passages, start=1)
    )
    instructions = (
        f'Below is the section "{section.heading}" of the sworn declaration of {client_name}. '
        'It is written in the first person ("I"), in plain words, and states only facts found in the '
        "excerpts above: dates, places, names and what was said."
    )
    return [
        Message(role="system", content="Case file excerpts:\n{evidence}", evidence=excerpts),
        Message(role="user", content=f"{instructions}\n\n{section.heading}"),
        Message(role="assistant", content=PRIMER),
    ]


def _whole_sentences(text: str, limit: int) -> str:
    """At most `limit` characters, cut after a sentence: a model copies a cut-off word into its answer."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    return head[: end + 1] if end > limit // 3 else head.rsplit(" ", 1)[0]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def clean_output(raw: str) -> str:
    """Turn a raw continuation into section text: no repeated sentences, no trailing fragment."""
    text = PRIMER + raw
    # The model sometimes goes on to invent a further excerpt ("[5] report.pdf, page 3: ..."); cut it there.
    text = re.split(r"\[\d+\]\s", text, maxsplit=1)[0]
    # A base model often starts a new heading or document after a blank line pair; stop there.
    text = re.split(r"\n\s*\n\s*\n", text, maxsplit=1)[0]
    sentences = re.split(r"(?<=[.!?])\s+", _squash(text))
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in sentences:
        key = sentence.lower()
        if key in seen:
            continue
        seen.add(key)
        kept.append(sentence)
    if len(kept) > 1 and not re.search(r"[.!?\"”)]$", kept[-1]):
        kept.pop()  # the answer was cut at the token limit mid-sentence
    result = " ".join(kept).strip()
    # "I." or "I am" is not a section; the pipeline asks again or tells the attorney.
    return result if len(result.split()) >= _MIN_WORDS else ""
