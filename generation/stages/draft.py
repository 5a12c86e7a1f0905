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
from generation.stages.common import single_quoted, squash, text_field, tokens_for, whole_pieces
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
    return "\n".join(f"[{f['id']}] {single_quoted(f['text'])}" for f in facts)


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


# The drafter writes JSON, where a double quote must be escaped, and turns a document's quotation into
# single quotes ('after we buy a house.'); told in double quotes again, as the documents have it, the gate
# checks the quoted words and the voice step leaves them as said ("we" in them is not her voice).
_SINGLE_QUOTED = re.compile(r"(?<![\w'])'(?=\S)([^']*?\S)'(?![\w'])")
_LEFT_OPEN = re.compile(r"(?<![\w'\"])['\"](?=\w)")
_STRAIGHT = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def requoted(text: str) -> str:
    """The sentence's quotations in double quotes, each closed; quotes around the whole sentence (a model
    quoting its own answer) dropped."""
    text = _SINGLE_QUOTED.sub(r'"\1"', text.translate(_STRAIGHT)).strip(" '")
    if text.count('"') == 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1].strip()
    opened = list(_LEFT_OPEN.finditer(text))
    if text.count('"') % 2:
        if text.startswith('"'):
            return text[1:].strip()
        if opened and text[opened[-1].start()] == '"' and '"' not in text[opened[-1].end() :]:
            return text + '"'  # 'were "a bad influence.': the quotation runs to the end
        return text.rstrip('"').strip()
    single = [m for m in opened if text[m.start()] == "'"]
    if single and "'" not in text[single[-1].end() :].replace("'s", ""):
        at = single[-1].start()  # 'were \'a bad influence.': closed at the end, in double quotes
        return f'{text[:at]}"{text[at + 1 :]}"'
    return text


# The 1.5B writes the documents' "U.S. citizen" as "U. S. citizen".
_SPACED_INITIALS = re.compile(r"\bU\. S\.(?: A\.)?")


def clean_sentence(text: str) -> str:
    text = requoted(squash(re.sub(r"<[^>]*>", " ", text)).strip(" -*"))
    text = _SPACED_INITIALS.sub(lambda m: m.group(0).replace(" ", ""), text)
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    if text and not re.search(r"[!?\"”)]$", text):
        body = re.sub(r"[\s.,;:(]+$", "", text)  # "... Richard Allen Kessler (." was cut off at a quote
        while _DANGLING.search(body):
            body = _DANGLING.sub("", body)
        text = body + "."
    return text
