"""Recording hangs that are not a single call's: stuck unloads and their escalations."""

from __future__ import annotations

from llmops.models import HangAction, HangEvent, HangKind, Host, LLMModel


def record_unload_stuck(
    *, host_name: str, model_name: str, seconds: float, detail: str, action: str = HangAction.ESCALATED
) -> HangEvent:
    return HangEvent.objects.create(
        kind=HangKind.UNLOAD_STUCK,
        model=LLMModel.objects.filter(name=model_name).first(),
        host=Host.objects.filter(name=host_name).first(),
        stage="unload",
        detected_after_s=round(seconds, 3),
        action=action,
        detail=detail[:300],
    )
