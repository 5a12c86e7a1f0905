"""Stage 1, extract: the facts a section needs, each tied to the passage (chunk) that states it.

The model answers every need of the section as JSON under a schema (the grammar makes any other
answer impossible): the number of the excerpt that answers it, 0 when none does, who did, said or
holds it (its actor), and the fact in a short sentence. Needs the case record answers are not asked
(generation.record). A fact whose excerpt does not back it (generation.faithfulness.check_fact: its
names, places, dates and numbers are the excerpt's, and it does not reverse it) is not kept;
its need is listed as missing, for the attorney to ask the client about.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from generation.declarations import SectionSpec
from generation.faithfulness import check_fact, client_names, settled_pieces
from generation.stages.common import (
    content_terms,
    excerpt_lines,
    int_enum,
    squash,
    text_field,
    tokens_for,
    whole_pieces,
)
from llmops.providers.base import Message

# Further facts the section may use beyond its needs (one incident more, a name, a place).
MORE_FACTS = 3


# Who did, said or holds what a fact states. A first-person sentence may only state the client's own acts,
# words, feelings and status: the abuser's (or a trafficker's), the court's or the police's never become "I".
ACTORS = ("client", "abuser", "child", "witness", "police", "court", "medical", "other")


def schema(section: SectionSpec, passages: int) -> dict[str, Any]:
    # `actor` comes before `fact` (the grammar keeps the order of `required`): the model says who before
    # it writes what.
    def item(excerpts: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "excerpt": excerpts,
                "actor": {"type": "string", "enum": list(ACTORS)},
                "fact": text_field(settings.AFFIANT_FACT_MAX_CHARS),
            },
            "required": ["excerpt", "actor", "fact"],
            "additionalProperties": False,
        }

    answer, more = item(int_enum(passages, lower=0)), item(int_enum(passages))
    properties: dict[str, Any] = {need: answer for need in section.needs}
    properties["other facts"] = {"type": "array", "items": more, "maxItems": MORE_FACTS}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def max_tokens(section: SectionSpec) -> int:
    items = len(section.needs) + MORE_FACTS
    return tokens_for(items * (settings.AFFIANT_FACT_MAX_CHARS + 60) + 40)


def build_messages(*, client_name: str, section: SectionSpec, evidence: list[dict[str, Any]]) -> list[Message]:
    questions = "; ".join(section.needs)
    instructions = (
        f'Facts for the section "{section.heading}" of the declaration of {client_name}, taken only from the '
        "excerpts above. For each question: the number of the excerpt that answers it (0 when no excerpt "
        "does), the actor (who did, said or holds it; a trafficker is the abuser) and the fact in one short "
        "sentence in the excerpt's own words, with its dates, places and names, saying who did it."
        f"\nQuestions: {questions}"
    )
    return [
        Message(role="system", content="Case file excerpts:\n{evidence}", evidence=excerpt_lines(evidence)),
        Message(role="user", content=f"{instructions}\nAnswer as JSON:"),
    ]


def parse(
    answer: dict[str, Any], section: SectionSpec, evidence: list[dict[str, Any]], record: str = ""
) -> tuple[list[dict], list[str]]:
    """The facts the evidence backs, numbered F1.., each with its actor, and the needs left unanswered.
    `record` is the case record's text (generation.record.record_text), where a fact's names may also be."""
    by_n = {e["n"]: e for e in evidence}
    candidates: list[tuple[str | None, Any]] = [(need, answer.get(need)) for need in section.needs]
    others = answer.get("other facts")
    candidates += [(None, item) for item in (others if isinstance(others, list) else [])]
    facts: list[dict[str, Any]] = []
    missing: list[str] = []
    seen: set[str] = set()
    client = client_names(record)
    for need, item in candidates:
        fact = _backed_fact(item, by_n, record)
        if fact is None:
            if need is not None:
                missing.append(need)
            continue
        if fact[0].lower() in seen:
            continue  # one fact answering two needs is kept once
        text, source = fact
        seen.add(text.lower())
        # One actor a fact: a passage's sentences about the client and an officer's "I observed" in one
        # answer become two facts of the same need, so the gate judges each by its own doer.
        for piece, actor in settled_pieces(text, actor_of(item), source["text"], client):
            facts.append(
                {
                    "id": f"F{len(facts) + 1}",
                    "n": source["n"],
                    "need": need,
                    "actor": actor,
                    "source": "evidence",
                    "text": piece,
                    "chunk_id": source.get("chunk_id"),
                    "document_id": source["document_id"],
                    "document_name": source["document_name"],
                    "page": source["page"],
                }
            )
    return facts, missing


def _backed_fact(item: Any, by_n: dict[int, dict[str, Any]], record: str = "") -> tuple[str, dict[str, Any]] | None:
    """The fact and the excerpt that backs it. A small model often names the wrong excerpt (or none)
    for a fact it copied correctly: the one it named is tried first, then the others, best overlap first.
    A name or date the excerpt lacks may come from the case record's text (`record`)."""
    if not isinstance(item, dict):
        return None
    text = " ".join(whole_pieces(clean_fact(str(item.get("fact") or "")), settings.AFFIANT_FACT_MAX_CHARS))
    if len(text.split()) < 2:
        return None
    named = by_n.get(item.get("excerpt"))  # type: ignore[arg-type]
    others = sorted(
        (e for e in by_n.values() if e is not named),
        key=lambda e: -len(content_terms(text) & content_terms(e["text"])),
    )
    for source in ([named] if named else []) + others:
        if not check_fact(text, passage=source["text"], record=record):
            return text, source
    return None  # the model wrote something no excerpt says


def actor_of(item: Any) -> str:
    """The actor the model named for a fact; "other" when it named none the schema allows."""
    actor = item.get("actor") if isinstance(item, dict) else None
    return actor if actor in ACTORS else "other"


def clean_fact(text: str) -> str:
    return squash(re.sub(r"<[^>]*>", " ", text)).strip(" ,;")
