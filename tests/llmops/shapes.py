"""Answers of the shapes real models give under a fact-extraction schema, valid and looping.

The schema mirrors generation's extract stage without importing it (llmops knows no pipeline): one
key per need, each `{"excerpt", "actor", "fact"}` with a bounded fact, plus an "other facts" array of
at most two. The valid answers repeat values the way Qwen2.5-Coder-1.5B-Instruct did on a VAWA intake
note: the same "not stated" for several needs, one fact answering several needs.
"""

from __future__ import annotations

import json
from typing import Any

NEEDS = (
    "when and where they met the abuser",
    "when and where they married",
    "the abuser's immigration status",
    "where they lived together",
    "the first time the abuser hurt them",
    "the worst incident",
)
FACT_MAX_CHARS = 160
MORE_FACTS = 2


def _item(excerpts: list[int]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "excerpt": {"type": "integer", "enum": excerpts},
            "actor": {"type": "string", "enum": ["client", "abuser", "child", "witness", "police", "court", "other"]},
            "fact": {"type": "string", "maxLength": FACT_MAX_CHARS},
        },
        "required": ["excerpt", "actor", "fact"],
        "additionalProperties": False,
    }


def extract_schema(passages: int = 4) -> dict[str, Any]:
    properties: dict[str, Any] = {need: _item(list(range(passages + 1))) for need in NEEDS}
    properties["other facts"] = {"type": "array", "items": _item(list(range(1, passages + 1))), "maxItems": MORE_FACTS}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


MET = {
    "excerpt": 1,
    "actor": "client",
    "fact": "I met Daniel Hayes in March 2015 at a church picnic in Houston, Texas.",
}
NOT_STATED = {"excerpt": 0, "actor": "other", "fact": "Not stated in the excerpts."}
PUSHED = {
    "excerpt": 2,
    "actor": "abuser",
    "fact": "On June 10, 2017 Daniel pushed me down the stairs of our apartment on Bellaire Street; I broke my wrist.",
}


def render(answer: dict[str, Any]) -> str:
    """As llama.cpp and Ollama stream a grammar-constrained answer: one member a line, spaces after colons."""
    return json.dumps(answer, indent=2)


def same_not_stated_for_four_needs() -> str:
    """Four needs the excerpts do not answer, each with the identical "not stated" value."""
    return render(
        {NEEDS[0]: MET, **{need: NOT_STATED for need in NEEDS[1:5]}, NEEDS[5]: PUSHED, "other facts": [PUSHED]}
    )


def one_fact_for_four_needs() -> str:
    """One incident that answers four needs, given whole for each."""
    return render({NEEDS[0]: MET, NEEDS[1]: NOT_STATED, **{need: PUSHED for need in NEEDS[2:]}, "other facts": []})


def array_past_max_items(copies: int = 12) -> str:
    """A host without a grammar that keeps adding the same "other fact": the schema allows two."""
    return render({NEEDS[0]: MET, **{need: NOT_STATED for need in NEEDS[1:]}, "other facts": [PUSHED] * copies})


def fact_looping_inside_itself(repeats: int = 40) -> str:
    """A fact value that loops within itself, far past its maxLength (a host that does not enforce it)."""
    looping = "He hit me and then he said he was sorry and then " * repeats
    return render({NEEDS[0]: {"excerpt": 1, "actor": "abuser", "fact": looping}, "other facts": []})
