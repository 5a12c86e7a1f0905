"""Stage 3, judge: several judges (each slot a route, so each may be a different model) score a section
on a rubric, as JSON with their reasons, and flag sentences. Scores are aggregated; where judges
disagree by two points or more, the disagreement is shown to the attorney."""

from __future__ import annotations

import re
from collections.abc import Iterable
from statistics import mean
from typing import Any

from generation.declarations import SectionSpec
from generation.stages.common import content_terms, int_enum, text_field, tokens_for
from generation.stages.draft import fact_lines
from llmops.providers.base import Message

CRITERIA = {
    "specificity": "dates, places, names and what was said, not generalities",
    "consistency": "nothing contradicts the facts",
    "support": "every sentence is backed by a listed fact",
    "tone": "the client's own first-person voice, plain and calm",
    "coverage": "it shows the legal element",
}
REMARKS_CHARS = 100
REASON_CHARS = 100
# Two points apart on a five-point scale is more than noise: the attorney should look.
DISAGREEMENT = 2
MAX_FLAGS = 3
# A remark shorter than this says nothing an attorney can use ("ok", "Good.").
MIN_REMARK_WORDS = 3


def schema(sentences: int) -> dict[str, Any]:
    flag = {
        "type": "object",
        "properties": {"sentence": int_enum(sentences), "reason": text_field(REASON_CHARS)},
        "required": ["sentence", "reason"],
        "additionalProperties": False,
    }
    # Scores before remarks: asked for its remarks first, the 0.5B judge wrote "1, 2, 3, 4, 5" as its
    # remark and then scored every criterion 1; asked for the scores first, it scores and then says why.
    properties: dict[str, Any] = {name: int_enum(5) for name in CRITERIA}
    properties["remarks"] = text_field(REMARKS_CHARS)
    properties["flagged"] = {"type": "array", "items": flag, "maxItems": min(sentences, MAX_FLAGS)}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def max_tokens(sentences: int) -> int:
    return tokens_for(REMARKS_CHARS + 30 * len(CRITERIA) + min(sentences, MAX_FLAGS) * (REASON_CHARS + 30) + 40)


def build_messages(
    *, section: SectionSpec, facts: list[dict[str, Any]], sentences: list[dict[str, Any]]
) -> list[Message]:
    numbered = "\n".join(f"S{i}. {s['text']}" for i, s in enumerate(sentences, start=1))
    rubric = "; ".join(f"{name}: {meaning}" for name, meaning in CRITERIA.items())
    instructions = (
        f'Review the draft of the section "{section.heading}" of a sworn declaration. It must show: '
        f"{section.element}. Score each criterion from 1 (poor) to 5 (excellent) — {rubric}. "
        "Flag by number each sentence that states something the facts do not, with the reason."
    )
    return [
        Message(role="system", content=f"Facts:\n{fact_lines(facts)}\n\nDraft:\n{numbered}"),
        Message(role="user", content=f"{instructions}\nAnswer as JSON:"),
    ]


def parse(
    answer: dict[str, Any], sentences: int, facts: Iterable[dict[str, Any]] = (), said: Iterable[str] = ()
) -> dict[str, Any]:
    """One judge's verdict, with out-of-range values left out rather than guessed, and remarks that are
    not a sentence (empty, JSON debris, a bare name) left out rather than shown. A flag whose reason names
    no fault (names_a_fault: "The draft does not contradict the facts provided.", the rubric's words, a
    fact's or `said`'s — the section's element, its sentences — said back) is no flag. `rubric` is whether
    it scored all five criteria from 1 to 5: a verdict without one does not count."""
    scores = {name: answer[name] for name in CRITERIA if _score(answer.get(name))}
    echoes = [*(str(f.get("text") or "") for f in facts), *said]
    flags = []
    for item in answer.get("flagged") or []:
        if isinstance(item, dict) and _score(item.get("sentence"), sentences):
            reason = " ".join(str(item.get("reason") or "").split())
            if _readable(reason) and not names_a_fault(reason, echoes):
                continue
            flags.append({"sentence": item["sentence"], "reason": reason if _readable(reason) else ""})
    remarks = " ".join(str(answer.get("remarks") or "").split())
    return {
        "scores": scores,
        "remarks": remarks if is_remark(remarks) else "",
        "flagged": flags,
        "rubric": len(scores) == len(CRITERIA),
    }


# What the 1.5B and the 0.5B give as the reason of a flag that finds nothing wrong (the bench's judges).
_AFFIRMS = re.compile(
    r"\b(?:does not|doesn't|do not|did not|never) contradict\w*|\baccurately\b|\bno (?:issues?|problems?|"
    r"contradictions?|errors?)\b|\b(?:is|are|was|were) (?:fully |well |directly |clearly )?(?:supported|backed|"
    r"consistent|accurate|correct)\b",
    re.I,
)
_FAULT = re.compile(
    r"\b(?:not|no|never|nothing|unsupported|missing|lacks?|contradicts?|contradicted|incorrect|wrong|invented|"
    r"inaccurate|false|instead|but|however|should|third|mismatch\w*|differs?|different|unclear|vague|absent|"
    r"only|neither|nor|without|wrongly|changes?|changed|adds?|added)\b|n't\b",
    re.I,
)
_ECHO = 0.8


def names_a_fault(reason: str, echoes: Iterable[str] = ()) -> bool:
    """Whether a judge's reason says what is wrong with the sentence. The rubric's words or a fact's (or
    any of `echoes`: the section's element, its sentences) said back do not ("The client's own first-person
    voice, plain and calm."; "Battery or extreme cruelty"; "KESSLER stated that I fell ... and that he never
    touched me."), nor does an affirmation ("The draft does not contradict the facts provided.", "accurately
    reflects ..."): on the bench, such flags sent true sentences to be rewritten or removed."""
    said = content_terms(reason)
    if not said or any(
        len(said & content_terms(source)) / len(said) >= _ECHO for source in (*CRITERIA.values(), *echoes)
    ):
        return False
    return _FAULT.search(_AFFIRMS.sub(" ", reason)) is not None or _AFFIRMS.search(reason) is None


def _score(value: Any, upper: int = 5) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= upper


_LETTERS = re.compile(r"[^\W\d_]")
_DEBRIS = re.compile(r'^[\s:{}\[\],"\\]|[{}\[\]]|":|\\[nu"]')


def _readable(text: str) -> bool:
    """Words, not JSON debris: mostly letters, no braces or escaped quotes."""
    letters = len(_LETTERS.findall(text))
    return bool(text) and letters >= max(3, len(text.replace(" ", "")) // 2) and not _DEBRIS.search(text)


def is_remark(text: str) -> bool:
    """A remark worth showing the attorney: a readable sentence of three words or more that is not just
    a name ("Maria Elena Ramirez Lopez." is a name, not a remark)."""
    words = re.findall(r"[^\W\d_][\w'\u2019-]*", text)
    if len(words) < MIN_REMARK_WORDS or not _readable(text):
        return False
    return any(w[0].islower() for w in words)


NO_RUBRIC = "no valid rubric (every criterion scored 1 to 5)"


def valid(verdict: dict[str, Any]) -> bool:
    """Whether the judge returned a valid rubric; one that did not does not count, nor do its flags."""
    return bool(verdict.get("verdict") and verdict["verdict"].get("rubric", True) and verdict["verdict"]["scores"])


def aggregate(verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    """verdicts: [{slot, route, model, verdict | None, error}] → per-criterion mean and spread, and where
    the judges disagree. Only the judges that returned a valid rubric (all five criteria, each 1 to 5)
    count; `judged` is how many did."""
    judged = [v for v in verdicts if valid(v)]
    criteria: dict[str, dict[str, Any]] = {}
    for name in CRITERIA:
        by_slot = {str(v["slot"]): v["verdict"]["scores"][name] for v in judged if name in v["verdict"]["scores"]}
        if not by_slot:
            continue
        values = list(by_slot.values())
        criteria[name] = {
            "mean": round(mean(values), 2),
            "min": min(values),
            "max": max(values),
            "scores": by_slot,
            "disagree": max(values) - min(values) >= DISAGREEMENT,
        }
    overall = round(mean(c["mean"] for c in criteria.values()), 2) if criteria else None
    return {
        "criteria": criteria,
        "overall": overall,
        "disagreements": [name for name, c in criteria.items() if c["disagree"]],
        "judges": [
            {
                "slot": v["slot"],
                "route": v["route"],
                "model": v.get("model", ""),
                "remarks": v["verdict"]["remarks"] if valid(v) else "",
                "error": v.get("error", "") or ("" if valid(v) or not v.get("verdict") else NO_RUBRIC),
                "valid": valid(v),
            }
            for v in verdicts
        ],
        "judged": len(judged),
    }


def flags_by_sentence(verdicts: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Sentence index (0-based) → the flags of the judges that returned a valid rubric."""
    flags: dict[int, list[dict[str, Any]]] = {}
    for v in verdicts:
        if not valid(v):
            continue
        for flag in v["verdict"].get("flagged", []):
            flags.setdefault(flag["sentence"] - 1, []).append(
                {"kind": "judge", "by": f"judge {v['slot'] + 1} ({v['route']})", "reason": flag["reason"]}
            )
    return flags
