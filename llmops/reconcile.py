"""The database is the truth: calls that a dead worker left running, or that never reached a queue.

A worker killed outright (kill -9, a lost box) runs no handler: its call stays `running`, and with
late acknowledgement its message comes back to a worker that finds the call already claimed. The
reconciler ends such a call as `worker_lost` as soon as the worker's heartbeat shows it restarted or
went silent (GPU workers beat), or else once it is past its hard time limit, and fails it over like
any hang. A call still `queued` long after it was created (its message lost with a broker
that went down) is sent again; claiming makes a duplicate delivery harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from llmops.calls import dispatch_on_commit, time_limits
from llmops.models import CallStatus, HangKind, LLMCall, WorkerHeartbeat
from llmops.residency import is_lost
from llmops.runner import finish_failed

logger = logging.getLogger("llmops.reconcile")

# Beyond the hard limit, time for the worker's own handler to record the kill before we step in.
_GRACE_S = 30


@dataclass(frozen=True)
class Reconciled:
    lost: int
    redispatched: int


def reconcile_calls() -> Reconciled:
    now = timezone.now()
    lost = 0
    running = list(LLMCall.objects.filter(status=CallStatus.RUNNING).select_related("model__host", "host", "route"))
    heartbeats = {
        h.worker: h for h in WorkerHeartbeat.objects.filter(worker__in={c.worker for c in running if c.worker})
    }
    for call in running:
        _, hard = time_limits(call.model)
        started = call.started_at or call.queued_at
        waited = (now - started).total_seconds()
        if waited > hard + _GRACE_S or _worker_gone(call, heartbeats.get(call.worker), now):
            outcome = finish_failed(
                call,
                kind=HangKind.WORKER_LOST,
                message="the worker running this call stopped without ending it (killed or lost)",
                detected_after_s=waited,
                transient=True,  # not the model's fault: the same model is tried again
            )
            lost += outcome.status == CallStatus.FAILED
    stale = now - timedelta(seconds=settings.LLMOPS_REDISPATCH_AFTER_S)
    redispatched = 0
    for call in (
        LLMCall.objects.filter(status=CallStatus.QUEUED, queued_at__lt=stale)
        .filter(Q(not_before__isnull=True) | Q(not_before__lt=stale))
        .select_related("host", "model")
    ):
        dispatch_on_commit(call)
        redispatched += 1
    if lost or redispatched:
        logger.info("calls reconciled", extra={"lost": lost, "redispatched": redispatched})
    return Reconciled(lost=lost, redispatched=redispatched)


def _worker_gone(call: LLMCall, heartbeat: WorkerHeartbeat | None, now: datetime) -> bool:
    """The worker that took the call has since restarted (its heartbeat names another main process),
    or has been silent past AFFIANT_HEARTBEAT_LOST_S. Only GPU workers beat; for others the hard limit rules."""
    if heartbeat is None or call.worker_pid is None:
        return False
    return heartbeat.pid != call.worker_pid or is_lost(heartbeat, now)
