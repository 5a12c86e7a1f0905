"""What the stages share: how evidence is written into a prompt and how JSON answers are read. Whether a
sentence or a fact says only what its sources say is generation.faithfulness's to check."""

from __future__ import annotations

import json
import re
from typing import Any

from casework.search import STOP_WORDS

# Passages are trimmed to this many characters in a prompt. A chunk holds about casework.chunking.CHUNK_CHARS
# (900): cut to 600, as it was, a section's extract never saw a third of its passages (the quality bench's
# "When the abuse began" lost its first incident, the plate and the bruised arm that way).
PASSAGE_PROMPT_CHARS = 1000

_WORD = re.compile(r"[a-zA-Z\u00C0-\u024F0-9']+")
# Words that carry no fact of their own: a sentence built only from these has nothing to check.
_FILLER = STOP_WORDS | frozenset(
    "am been being but if into just not also very so then there than him himself herself myself "
    "because about after before during while would could should will can may might".split()
)


class BadAnswer(ValueError):
    """The model's answer is not the JSON the schema asked for (cut off at the token limit, say)."""


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def whole_sentences(text: str, limit: int = PASSAGE_PROMPT_CHARS) -> str:
    """At most `limit` characters, cut after a sentence: a model copies a cut-off word into its answer."""
    text = squash(text)
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind(". "), head.rfind("! "), head.rfind("? "))
    return head[: end + 1] if end > limit // 3 else head.rsplit(" ", 1)[0]


def single_quoted(text: str) -> str:
    """A text a model is to copy into a JSON string, with its double quotes as single ones: the 1.5B wrote
    an inner double quote unescaped, and the grammar ended the string there ('Kessler ("Rick") on October
    11' came back as 'Kessler ('). The draft's sentences get their double quotes back (draft.requoted)."""
    return text.replace("\u201c", "'").replace("\u201d", "'").replace('"', "'")


def excerpt_lines(evidence: list[dict[str, Any]]) -> tuple[str, ...]:
    """`[n] name, page p: "text"` for each retrieved passage, ranked best first (the context guard
    drops from the end when the prompt must shrink)."""
    return tuple(
        f'[{e["n"]}] {e["document_name"]}, page {e["page"]}: "{single_quoted(whole_sentences(e["text"]))}"'
        for e in evidence
    )


def read_json(output: str) -> dict[str, Any]:
    try:
        value = json.loads(output, strict=False)  # the grammar lets a raw newline into a string
    except json.JSONDecodeError as exc:
        raise BadAnswer(f"the answer is not complete JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(value, dict):
        raise BadAnswer("the answer is not a JSON object")
    return value


def content_terms(text: str) -> set[str]:
    return {w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in _FILLER and len(w) > 2}


def int_enum(upper: int, *, lower: int = 1) -> dict[str, Any]:
    return {"type": "integer", "enum": list(range(lower, upper + 1))}


def text_field(max_chars: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_chars}


def tokens_for(chars: int) -> int:
    """A budget of output tokens for `chars` characters of JSON: English runs ~4 characters a token;
    3 leaves room for names, digits and punctuation, so a bounded answer is never cut off."""
    return chars // 3 + 1


# Titles and ranks of police reports and court papers too: "with Ofc. Moreno translating" split after
# "Ofc." gave the draft the sentence "I stated in Spanish, with Ofc.".
_ABBREVIATIONS = (
    "Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Jr.", "Sr.", "U.S.", "No.", "Ave.", "Rd.", "Mt.", "Ft.", "Ofc.", "Off.",
    "Det.", "Sgt.", "Lt.", "Cpl.", "Dep.", "Capt.", "Insp.", "Prof.", "Hon.", "Apt.", "Blvd.", "Dept.", "Hwy.",
)  # fmt: skip
# An initial ("Deputy R. Saenz", "U. S. citizen") ends no sentence.
_INITIAL = re.compile(r"(?:^|[\s(])[A-Z]\.$")


# A sentence ends at . ! or ?, or at a quotation closed after one ('were "a bad influence." He ...').
# A numbered list's item ("... in both names. 2) 918 West Saguaro ...") begins a sentence too.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”'\u2019]))\s+(?=[A-Z\"“]|\d{1,2}\)\s)")


def split_sentences(text: str) -> list[str]:
    """The sentences of a text (an attorney's edit, or a model's "sentence" that holds several);
    "St. Anne's", "U.S. citizen" or "Deputy R. Saenz" does not end one."""
    pieces = [p for p in (squash(x) for x in _SENTENCE_END.split(text)) if p]
    sentences: list[str] = []
    for piece in pieces:
        if sentences and (sentences[-1].endswith(_ABBREVIATIONS) or _INITIAL.search(sentences[-1])):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def whole_pieces(text: str, limit: int) -> list[str]:
    """The sentences of a text, less the last when the schema's length limit cut it off mid-sentence
    ("He proposed on Christ"): a cut sentence states something else, or nothing."""
    pieces = split_sentences(text)
    if pieces and len(text.strip()) >= limit - 2 and not re.search(r"[.!?\"”)]$", pieces[-1]):
        pieces.pop()
    return pieces
