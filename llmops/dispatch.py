"""Swap-aware dispatch for hosts marked `dispatch: grouped`.

When several runs wait on one GPU host, running their calls in arrival order swaps models on every
call. Instead, each queued call sends the host a token; the worker that takes a token runs the
waiting call for the model it used last, if any, so a model is loaded once per batch rather than
once per run. No call waits forever: once the oldest has waited AFFIANT_SWAP_MAX_WAIT_S, it goes next.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from llmops.models import CallStatus, LLMCall
from llmops.runner import NO_WORKER, Outcome, WorkerRef, execute_call

# A token may find its pick taken by another worker of the host; it tries again this many times.
_CLAIM_ATTEMPTS = 5


def pick_next_call(host_id: int) -> int | None:
    now = timezone.now()
    waiting = LLMCall.objects.filter(host_id=host_id, status=CallStatus.QUEUED).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now)
    )
    oldest = waiting.order_by("queued_at", "id").values_list("pk", "queued_at").first()
    if oldest is None:
        return None
    if (now - oldest[1]).total_seconds() > settings.AFFIANT_SWAP_MAX_WAIT_S:
        return int(oldest[0])  # the bound on waiting beats grouping
    last_model = (
        LLMCall.objects.filter(host_id=host_id, started_at__isnull=False)
        .order_by("-started_at", "-id")
        .values_list("model_id", flat=True)
        .first()
    )
    if last_model is not None:
        same = waiting.filter(model_id=last_model).order_by("queued_at", "id").values_list("pk", flat=True).first()
        if same is not None:
            return int(same)
    return int(oldest[0])


def run_next_call(host_id: int, worker: WorkerRef = NO_WORKER) -> Outcome | None:
    for _ in range(_CLAIM_ATTEMPTS):
        call_id = pick_next_call(host_id)
        if call_id is None:
            return None
        outcome = execute_call(call_id, worker)
        if outcome is not None:
            return outcome
    return None
