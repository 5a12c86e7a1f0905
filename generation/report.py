"""Counting what a run produced and what it cost, for the command line and the tests."""

from __future__ import annotations

from typing import Any

from generation.models import DeclarationRun
from llmops.models import HangEvent, LLMCall


def run_call_ids(run: DeclarationRun) -> set[int]:
    """Every call a run made, failovers included (each section holds the last call of its chain)."""
    ids: set[int] = set()
    frontier = {s.call_id for s in run.sections.all() if s.call_id}
    while frontier:
        ids |= frontier
        frontier = (
            set(
                LLMCall.objects.filter(pk__in=frontier, failed_over_from__isnull=False).values_list(
                    "failed_over_from_id", flat=True
                )
            )
            - ids
        )
    return ids


def run_summary(run: DeclarationRun) -> dict[str, Any]:
    version = run.versions.order_by("number").first()
    sections = list(version.sections.all()) if version else []
    call_ids = run_call_ids(run)
    return {
        "run": run.pk,
        "status": run.status,
        "sections": sum(1 for s in sections if s.text),
        "words": sum(len(s.text.split()) for s in sections),
        "llm_calls": len(call_ids),
        "hangs": HangEvent.objects.filter(call_id__in=call_ids).count(),
    }
