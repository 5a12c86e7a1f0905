"""Stage 2, draft: the section in the client's first-person voice, from the extracted facts only.

The answer is JSON under a schema: a list of sentences, each naming first the facts (F1, F2..) it
rests on and then its text, so the model writes each sentence looking at its facts. A sentence keeps
those ids, and through them the chunks and pages behind it.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from generation.declarations import SectionSpec
from generation.stages.common import squash, text_field, tokens_for, whole_pieces
from llmops.providers.base import Message

_MIN_WORDS = 3
MAX_SENTENCES = 12


def sentence_count(facts: list[dict[str, Any]]) -> int:
    return max(1, min(MAX_SENTENCES, len(facts) + 1))


def least_sentences(facts: list[dict[str, Any]]) -> int:
    """At least one sentence a fact: asked for "one or more", the 1.5B wrote one sentence for three facts
    and the section lost the other two."""
    return max(1, min(MAX_SENTENCES, len(facts)))


def schema(facts: list[dict[str, Any]]) -> dict[str, Any]:
    sentence = {
        "type": "object",
        "properties": {
            "facts": {
                "type": "array",
                "items": {"type": "string", "enum": [f["id"] for f in facts]},
                "minItems": 1,
                "maxItems": 2,
            },
            "text": text_field(settings.AFFIANT_SENTENCE_MAX_CHARS),
        },
        "required": ["facts", "text"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "items": sentence,
                "minItems": least_sentences(facts),
                "maxItems": sentence_count(facts),
            }
        },
        "required": ["sentences"],
        "additionalProperties": False,
    }


def max_tokens(facts: list[dict[str, Any]]) -> int:
    return tokens_for(sentence_count(facts) * (settings.AFFIANT_SENTENCE_MAX_CHARS + 40) + 30)


def fact_lines(facts: list[dict[str, Any]]) -> str:
    return "\n".join(f"[{f['id']}] {f['text']}" for f in facts)


def build_messages(
    *, client_name: str, section: SectionSpec, facts: list[dict[str, Any]], partner: str = ""
) -> list[Message]:
    """`partner` is the abuser of a VAWA case, the spouse: what the two did or had together ("They opened a
    joint account", "Their daughter") she tells as "we" and "our"."""
    together = f'; "we" and "our" for {client_name} and {partner} together' if partner else ""
    instructions = (
        f'Write the section "{section.heading}" of the sworn declaration of {client_name}, in the first person '
        f'as {client_name} ("I", "me", "my"{together}): one plain sentence for each fact above, in the fact\'s '
        "own words, with its dates, places and names, and never changing who did what. Each sentence lists the "
        "facts it states."
    )
    return [
        Message(role="system", content=f"Facts:\n{fact_lines(facts)}"),
        Message(role="user", content=f"{instructions}\nAnswer as JSON:"),
    ]


def parse(answer: dict[str, Any], facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sentences with the ids of their facts and the chunks behind them; repeats and scraps dropped."""
    by_id = {f["id"]: f for f in facts}
    items = answer.get("sentences")
    sentences: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        cited = [i for i in dict.fromkeys(item.get("facts") or []) if i in by_id]
        # A "sentence" that holds several is taken apart: the gate judges each on its own, so one bad
        # sentence costs only itself, and the attorney sees each with its facts.
        for piece in whole_pieces(str(item.get("text") or ""), settings.AFFIANT_SENTENCE_MAX_CHARS):
            text = clean_sentence(piece)
            if len(text.split()) < _MIN_WORDS or text.lower() in seen:
                continue
            seen.add(text.lower())
            sentences.append(new_sentence(text, cited, by_id))
    return sentences


def new_sentence(text: str, fact_ids: list[str], by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    chunks = list(dict.fromkeys(by_id[i]["chunk_id"] for i in fact_ids if by_id[i].get("chunk_id")))
    return {"text": text, "facts": fact_ids, "chunks": chunks, "flags": [], "bertscore": None}


# Words a sentence cannot end on: a fact the model cut short ("... have her deported if she left him or")
# was drafted as "... if I left him or.".
_DANGLING = re.compile(r"[\s,;:]+(?:and|or|but|nor|because|if|with|to|of|for|the|a|an|that|as|at|in|on|by)$", re.I)


def clean_sentence(text: str) -> str:
    text = squash(re.sub(r"<[^>]*>", " ", text)).strip(" -*\"'")
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    if text and not re.search(r"[!?\"”)]$", text):
        body = re.sub(r"[\s.,;:]+$", "", text)
        while _DANGLING.search(body):
            body = _DANGLING.sub("", body)
        text = body + "."
    return text
