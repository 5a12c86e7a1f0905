"""Stage 4, guardrails: no sentence reaches the draft unless the faithfulness gate passes it.

A sentence is a candidate when a judge flagged it, when the faithfulness gate (generation.faithfulness)
finds it says what its sources do not, or when it is not in the client's first-person voice. A candidate
that cites facts is rewritten once, from those facts only, with each of its problems stated; a rewrite
that passes the gate takes its place (marked `rewritten`, for the attorney's information). Whatever
still fails — no rewrite came, the rewrite failed the gate, or the sentence cites nothing — is taken
out of the draft and becomes a note to the attorney with the reason: never kept silently, never kept
with a flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from django.conf import settings

from generation.faithfulness import check_sentence, client_names, words
from generation.stages.common import single_quoted, split_sentences, squash, text_field, tokens_for
from generation.stages.draft import clean_sentence
from generation.voice import FIRST_PERSON, told_by_client
from llmops.providers.base import Message

_MIN_WORDS = 3


@dataclass(frozen=True)
class Candidate:
    index: int  # into the section's sentences
    judged: tuple[str, ...]  # what the judges said
    checked: tuple[str, ...]  # what the faithfulness gate and the voice check found

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.judged + self.checked))


_SHE = re.compile(r"\b(she|her|hers|herself)\b", re.IGNORECASE)
_CLIENT_WORDS = re.compile(
    r"\b(?:the )?(?:client|victim|petitioner|applicant|complainant|declarant|survivor|patient)\b", re.IGNORECASE
)


def voice_problem(text: str, client: list[str] | tuple[str, ...] = ()) -> str | None:
    """Why the sentence is not told in the client's voice: with no "I", "my" or "we", it speaks of her as
    someone else (by name, as "the client", or as "she" or "her", which generation.voice left because
    another woman may be meant). A sentence about someone else is hers to tell as it stands ("He was
    arrested.", "Sofía attends the Head Start preschool program."): asked to put an "I" in it, the 1.5B
    wrote "I was arrested." and "I attend the Head Start preschool program."."""
    if FIRST_PERSON.search(text):
        return None
    if _SHE.search(text) or _CLIENT_WORDS.search(text) or _names_client(text, client):
        return "it is not in the client's first-person voice"
    return None


def _names_client(text: str, client: list[str] | tuple[str, ...]) -> bool:
    """Whether the text names the client: her first name, or a title and one of her surnames ("Ms. Torres")."""
    found = words(text)
    pairs = {" ".join(pair) for pair in pairwise(found)}
    for name in client:
        parts = words(name)
        if parts and parts[0] in found:
            return True
        if any(f"{title} {part}" in pairs for title in ("ms", "mrs", "miss", "senora") for part in parts[1:]):
            return True
    return False


@dataclass(frozen=True)
class Sources:
    """What a section's sentences are checked against: its facts, the full text of its passages (by
    excerpt number) and the case record's text."""

    facts_by_id: dict[str, dict[str, Any]]
    passages: dict[int, str]
    record: str = ""
    kin: dict[str, str] = field(default_factory=dict)  # what she calls her child and spouse (voice.kin_of)

    @classmethod
    def of(
        cls,
        *,
        facts: list[dict[str, Any]],
        evidence: list[dict[str, Any]],
        record: str,
        kin: dict[str, str] | None = None,
    ) -> Sources:
        return cls({f["id"]: f for f in facts}, {e["n"]: e["text"] for e in evidence}, record, kin or {})

    def facts_of(self, fact_ids: list[str]) -> list[dict[str, Any]]:
        return [self.facts_by_id[i] for i in fact_ids if i in self.facts_by_id]

    def passages_of(self, fact_ids: list[str]) -> list[str]:
        numbers = dict.fromkeys(f.get("n") for f in self.facts_of(fact_ids) if f.get("source") != "record")
        return [self.passages[n] for n in numbers if n in self.passages]

    def problems(self, text: str, fact_ids: list[str]) -> list[str]:
        """Why `text`, citing `fact_ids`, may not stand in the client's declaration (empty: it may)."""
        problems = check_sentence(
            text,
            facts=self.facts_of(fact_ids),
            passages=self.passages_of(fact_ids),
            record=self.record,
            client=client_names(self.record),
        )
        voice = voice_problem(text, client_names(self.record))
        return [*problems, voice] if voice else problems


def candidates(sentences: list[dict[str, Any]], sources: Sources) -> list[Candidate]:
    found = []
    for index, sentence in enumerate(sentences):
        judged = tuple(f["reason"] or "flagged by a judge" for f in sentence["flags"] if f["kind"] == "judge")
        checked = tuple(sources.problems(sentence["text"], sentence["facts"]))
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


def fact_line(fact: dict[str, Any]) -> str:
    """A fact with who did, said or holds it: the rewrite must not give the abuser's act to the client."""
    actor = fact.get("actor")
    text = single_quoted(str(fact["text"]))
    return f"({actor}) {text}" if actor and actor != "other" else text


def build_messages(
    *,
    client_name: str,
    sentences: list[dict[str, Any]],
    chosen: list[Candidate],
    sources: Sources,
) -> list[Message]:
    blocks = []
    for number, candidate in enumerate(chosen, start=1):
        sentence = sentences[candidate.index]
        facts = "; ".join(fact_line(f) for f in sources.facts_of(sentence["facts"]))
        problems = "\n".join(f"   Problem: {reason}" for reason in candidate.reasons)
        blocks.append(f"{number}. Sentence: {single_quoted(sentence['text'])}\n{problems}\n   Facts: {facts}")
    instructions = (
        f"Rewrite each sentence of {client_name}'s declaration so that it fixes its problems and states only "
        'its facts, in the first person ("I", "my", "me"), keeping the dates, places and names of the facts. '
        f'"I" is {client_name}, whom the facts may call "the client", "she" or by name; what anyone else did, '
        "said or holds stays theirs, said of them by name or as he, she or they. Quote messages in quotation "
        "marks; never write phone numbers, e-mails or record numbers."
    )
    return [
        Message(role="system", content="\n".join(blocks)),
        Message(role="user", content=f"{instructions}\nAnswer as JSON:"),
    ]


def apply(
    sentences: list[dict[str, Any]],
    chosen: list[Candidate],
    rewrites: list[str] | None,
    sources: Sources,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The section's sentences after the guardrails, and the notes for the attorney on what was removed.

    `rewrites` (lined up with `chosen`) is None when no rewrite was asked for or the rewrite call failed.
    A candidate stays only as a rewrite that passes the gate; the rest is removed, with the reason."""
    notes: list[str] = []
    fixed = {c.index: c for c in chosen}
    kept: list[dict[str, Any]] = []
    # A fact is told in its own words only when no sentence that stands states it, and never when a judge
    # flagged a sentence resting on it (its own words would bring back what the judge questioned).
    told = {i for index, sentence in enumerate(sentences) if index not in fixed for i in sentence["facts"]}
    told |= {i for c in chosen if c.judged for i in sentences[c.index]["facts"]}
    drafted = {i for sentence in sentences for i in sentence["facts"]}
    for index, sentence in enumerate(sentences):
        candidate = fixed.get(index)
        if candidate is None:
            kept.append(sentence)
            continue
        position = chosen.index(candidate)
        # The rewrite's voice is told as the draft's is: the 1.5B still writes "the female appeared frightened".
        rewrite = (
            clean_sentence(told_by_client(rewrites[position], record=sources.record, kin=sources.kin))
            if rewrites and position < len(rewrites)
            else ""
        )
        if not sentence["facts"]:
            notes.append(_removed(sentence, candidate.reasons))
            continue
        still = sources.problems(rewrite, sentence["facts"]) if len(rewrite.split()) >= _MIN_WORDS else []
        if len(rewrite.split()) < _MIN_WORDS or still:
            failed = f'its rewrite "{rewrite}" failed too: {"; ".join(still)}' if still else "no usable rewrite came"
            own = _in_their_own_words(sentence, told, sources, reasons=(*candidate.reasons, failed))
            told |= {i for s in own for i in s["facts"]}
            kept += own
            notes.append(
                _removed(sentence, (*candidate.reasons, failed))
                + (" Its facts are told in their own words." if own else "")
            )
            continue
        # The judges' and checks' remarks were about the old wording: the rewrite answers them.
        flags = [f for f in sentence["flags"] if f["kind"] not in ("judge", "guardrails")]
        flags.append({"kind": "rewritten", "by": "guardrails", "reason": "; ".join(candidate.reasons)})
        pieces = split_sentences(rewrite)
        for piece in pieces:
            # A rewrite of several sentences passed as a whole; each stands alone in the draft, so each
            # must pass alone.
            alone = sources.problems(piece, sentence["facts"]) if len(pieces) > 1 else []
            if alone:
                notes.append(_removed({"text": piece}, (f'part of the rewrite of "{sentence["text"]}"', *alone)))
                continue
            kept.append({**sentence, "text": piece, "original": sentence["text"], "flags": flags})
    return _without_repeats(_with_left_out_facts(kept, drafted, sources)), notes


def _with_left_out_facts(kept: list[dict[str, Any]], drafted: set[str], sources: Sources) -> list[dict[str, Any]]:
    """The section with each fact no drafted sentence cited (the 1.5B, asked for a sentence a fact, leaves
    some out) told in its own words where that passes the gate, placed before the first sentence that rests
    on a later fact, so the section keeps the order of its facts."""
    told = drafted | {i for s in kept for i in s["facts"]}
    order = {fact_id: n for n, fact_id in enumerate(sources.facts_by_id)}
    result = list(kept)
    for fact_id, fact in sources.facts_by_id.items():
        if fact_id in told or fact.get("source") == "record":
            continue
        flag = {"kind": "rewritten", "by": "guardrails", "reason": "the draft left this fact out; told in its words"}
        added = [
            {"text": piece, "facts": [fact_id], "chunks": [fact["chunk_id"]] if fact.get("chunk_id") else [],
             "flags": [flag], "bertscore": None}
            for piece in fact_in_client_voice(fact, sources)
        ]  # fmt: skip
        at = next(
            (
                i
                for i, s in enumerate(result)
                if s["facts"] and min(order.get(f, 0) for f in s["facts"]) > order[fact_id]
            ),
            len(result),
        )
        result[at:at] = added
    return result


def _in_their_own_words(
    sentence: dict[str, Any], told: set[str], sources: Sources, *, reasons: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The facts of a sentence that failed (and whose rewrite failed too), each as the excerpt's own words
    told by the client (generation.voice), where that passes the gate: a fact is backed by its passage by
    construction (extract.check_fact) and a record fact is the record's, so its own words lose nothing the
    drafter garbled ("$40 a week ... on 2023-04-15 in New York City") and invent nothing. A fact some other
    sentence already tells is skipped, and a record number (not narrative) never becomes a sentence."""
    own = []
    for fact in sources.facts_of(sentence["facts"]):
        # A record fact is already a sentence in her voice ("My child, Sofía Kessler Torres, was born on
        # ..."), which the 1.5B garbled into "I am Sofía Kessler Torres, was born ...".
        if fact["id"] in told or not fact.get("narrative", True):
            continue
        for piece in fact_in_client_voice(fact, sources):
            flag = {
                "kind": "rewritten",
                "by": "guardrails",
                "reason": "; ".join((*reasons, "told in its fact's words")),
            }
            own.append(
                {**sentence, "text": piece, "facts": [fact["id"]], "original": sentence["text"], "flags": [flag]}
            )
    return own


def fact_in_client_voice(fact: dict[str, Any], sources: Sources) -> list[str]:
    """The fact's sentences told by the client, each only if it passes the gate on its own."""
    pieces = []
    for piece in split_sentences(str(fact["text"])):
        text = clean_sentence(told_by_client(piece, record=sources.record, kin=sources.kin))
        if len(text.split()) >= _MIN_WORDS and not sources.problems(text, [fact["id"]]):
            pieces.append(text)
    return pieces


def _without_repeats(sentences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A rewrite often restates a sentence the section already holds ("I was born on March 14, 1991."):
    the declaration says each thing once. The first keeps its place."""
    seen: set[str] = set()
    kept = []
    for sentence in sentences:
        key = squash(sentence["text"]).lower().rstrip(".!")
        if key not in seen:
            seen.add(key)
            kept.append(sentence)
    return kept


def _removed(sentence: dict[str, Any], reasons: tuple[str, ...]) -> str:
    return f'Removed "{sentence["text"]}": {"; ".join(dict.fromkeys(reasons))}.'
