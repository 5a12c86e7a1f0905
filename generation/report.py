"""Counting what a run produced and what it cost, for the command line and the tests."""

from __future__ import annotations

from statistics import mean
from typing import Any

from generation.models import DeclarationRun
from llmops.models import HangEvent, LLMCall


def run_call_ids(run: DeclarationRun) -> set[int]:
    """Every call a run made: first requests, re-asks and failovers (each carries the run's callback)."""
    return set(LLMCall.objects.filter(callback__kwargs__run_id=run.pk).values_list("pk", flat=True))


def _judged(judge: dict[str, Any]) -> bool:
    """A judge that returned a valid rubric (judgements stored before `valid` was kept: one without error)."""
    return bool(judge.get("valid", not judge.get("error")))


def run_summary(run: DeclarationRun) -> dict[str, Any]:
    version = run.versions.order_by("number").first()
    sections = list(version.sections.all()) if version else []
    sentences = [s for section in sections for s in section.sentences]
    scores = [s["bertscore"] for s in sentences if s.get("bertscore") is not None]
    call_ids = run_call_ids(run)
    # Judges that returned a valid rubric (all five criteria, 1 to 5) for some section, not judge slots.
    judges = len({j["slot"] for s in sections for j in s.judgement.get("judges", []) if _judged(j)})
    return {
        "run": run.pk,
        "status": run.status,
        "sections": sum(1 for s in sections if s.text),
        "sentences": len(sentences),
        "cited_sentences": sum(1 for s in sentences if s.get("facts")),
        "flagged_sentences": sum(1 for s in sentences if s.get("flags")),
        "missing_facts": sum(len(s.missing) for s in sections),
        "judges": judges,
        "bertscore_f1_mean": round(mean(scores), 4) if scores else None,
        "words": sum(len(s.text.split()) for s in sections),
        "llm_calls": len(call_ids),
        "hangs": HangEvent.objects.filter(call_id__in=call_ids).count(),
    }
