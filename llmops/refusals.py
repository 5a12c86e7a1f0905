"""Telling a model's refusal from an answer: "I'm sorry, but I can't help with that" is not a result.

Callers ask for text about hard subjects, stated plainly; a model that declines (or answers with a
disclaimer in place of the answer) must fail over like any other failure, not hand its refusal on as
if it were the answer. Only phrasing that addresses the request counts, at the start of the answer
or of one of its string values (a JSON answer's keys are the caller's own words): a first-person
sentence such as "I could not leave" or "I cannot remember the date" is an answer, not a refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

# What a refusal may open with: an apology or a "however" before it.
_LEAD = (
    r"(?:(?:i'm|i am) (?:so |very |really |truly )?sorry|i apologi[sz]e|sorry|unfortunately|however|regrettably)"
    r"[,.!]? (?:but )?"
)
# An apology alone: with one, a narrower set of verbs needs no object ("I'm sorry, but I can't write the…").
_APOLOGY = r"(?:(?:i'm|i am) (?:so |very |really |truly )?sorry|i apologi[sz]e|sorry)[,.!]? (?:but )?"
_CANNOT = (
    r"i (?:really |simply |absolutely )?(?:can't|cannot|can not|won't|will not|must not|should not|shouldn't)"
    r"|i(?:'m| am) (?:afraid i (?:can't|cannot)|unable|not able|not allowed|not permitted|not comfortable|not going)"
    r"|i (?:do not|don't) feel comfortable"
)
# Verbs that address the request, not the speaker's life ("remember", "leave", "sleep" are not here).
_VERB = (
    r"(?:help|assist|provide|comply|fulfil+|create|generate|write|produce|complete|engage|support|answer|respond"
    r"|draft|continue|share|process|discuss|give|proceed|participate|do (?:that|this))"
)
# Of those, the ones an apology makes a refusal by themselves (not "continue", "share", "give": a declarant
# may well say "I'm sorry, I can't continue").
_APOLOGY_VERB = r"(?:help|assist|provide|comply|fulfil+|create|generate|write|produce|answer|respond|draft)"
# What the verb is about: the request or the content asked for.
_OBJECT = (
    r"(?:(?:you )?with (?:that|this|such|your request|the request|requests?|content|writing|creating|generating"
    r"|drafting|producing|describing)\b"
    r"|(?:that|this|your|the|such|these) (?:requests?|tasks?|content|kind|type|material|query|prompt)\b"
    r"|content (?:that|which|about|involving|describing|depicting)\b"
    r"|(?:assistance|guidance|a response|responses)\b"
    r"|(?:a|an|the|this|that|such|any) (?:declaration|statement|story|narrative|account|description|text)s?"
    r" (?:that |which )?(?:describ|depict|detail|involv|contain))"
)
_SENTENCE_REFUSALS = [
    # "I can't help with that." "I'm unable to provide assistance with this request."
    re.compile(rf"^(?:{_LEAD})?(?:{_CANNOT})(?: be able)?(?: to)? {_VERB}\b[^.!?]{{0,80}}?{_OBJECT}"),
    # "I can't provide that." The bare "that" only right after the verb: "I cannot continue like this." is an answer.
    re.compile(
        rf"^(?:{_LEAD})?(?:{_CANNOT})(?: be able)?(?: to)? (?:{_VERB} (?:that|this)|do (?:that|this)) ?(?:[.!]|$)"
    ),
    # "I'm sorry, but I can't write the declaration."
    re.compile(
        rf"^{_APOLOGY}(?:{_CANNOT})(?: be able)?(?: to)? {_APOLOGY_VERB}"
        r"(?: (?:you|with|this|that|the|a|an|such|any|content|requests?)\b| ?[.!,]|$)"
    ),
    # Verbs that only ever answer a request (but "I cannot assist my mother" is a declarant's).
    re.compile(
        rf"^(?:{_LEAD})?(?:{_CANNOT})(?: be able)?(?: to)? (?:assist|comply|fulfil+|generate)\b"
        r"(?! (?:my|his|her|him|them|their|our)\b)"
    ),
    re.compile(r"^i (?:must|have to|need to) (?:respectfully |politely )?(?:decline|refuse)\b"),
    re.compile(
        r"^(?:as an? |i(?:'m| am) (?:just |only )?an? )"
        r"(?:ai|artificial intelligence|(?:large )?language model|llm|ai (?:language )?model|ai assistant)\b"
    ),
    re.compile(r"^(?:this|that|the|your) (?:request|content|prompt) (?:violates|goes against|is against)\b"),
    # Softening in place of an answer: a hotline notice or a content warning.
    re.compile(r"^if you or someone you know\b"),
    re.compile(r"^(?:content|trigger) warning\b"),
    re.compile(
        r"^i understand (?:that )?(?:this|the topic|the subject|the request|your request) (?:is|may be|can be)"
        r" (?:a )?(?:very )?(?:sensitive|difficult|distressing|upsetting|serious)\b"
    ),
]
# "I cannot provide that from the excerpts" is the caller's "not stated", said politely.
_ABOUT_THE_SOURCE = re.compile(
    r"\b(?:excerpts?|passages?|(?:provided|given) (?:text|context|documents?|information)|not (?:stated|mentioned))\b"
)
# Only the opening sentences: a refusal comes first; what follows it is explanation.
_OPENING_SENTENCES = 2
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def refusal_in(text: str, *, structured: bool) -> str | None:
    """The refusal that opens the answer or one of its string values (for a JSON answer), if any.

    Returns the refusing sentence (model wording, for the caller's record), or None for an answer."""
    values = list(_string_values(text)) if structured else [text]
    for value in values:
        found = opening_refusal(value)
        if found is not None:
            return found
    return None


def opening_refusal(text: str) -> str | None:
    """The sentence among the first two of `text` that refuses the request, if one does."""
    normal = " ".join(text.replace("\u2019", "'").replace("\u2018", "'").lower().split())
    normal = normal.lstrip(" \"'`*#>-:")
    for sentence in _SENTENCE_END.split(normal, maxsplit=_OPENING_SENTENCES)[:_OPENING_SENTENCES]:
        if _ABOUT_THE_SOURCE.search(sentence):
            continue
        if any(pattern.search(sentence) for pattern in _SENTENCE_REFUSALS):
            return sentence[:200]
    return None


def _string_values(text: str) -> Iterator[str]:
    """A JSON answer's string values, not its keys; every string literal when it does not parse
    (a host without a grammar may wrap or cut the JSON)."""
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        for literal in re.findall(r'"((?:[^"\\]|\\.)*)(?:"|$)', text):  # the last one may be cut off
            try:
                yield json.loads(f'"{literal}"')
            except ValueError:
                yield literal
        yield text  # a plain refusal where JSON was asked for
        return
    stack = [parsed]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
