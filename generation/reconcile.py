"""The database is the truth for runs too: a run moves on only when a message arrives, so a lost message
(a broker restarted without its data, a worker killed between a commit and a send) would leave it waiting
for ever. The reconciler finds what should have moved and sends the message again; every step is taken in
once, so a message sent twice does nothing twice.

- a run still `queued` well after it was created: its first advance is sent again;
- a step waiting on a call that has ended for good (its callback lost): the run is advanced with it;
- a scoring step waiting past the deadline (its task lost): the task is sent again, up to
  MAX_SCORE_SENDS times, then the section goes on unscored with the reason;
- a running run with no step waiting at all (its advance lost): it is advanced again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from generation.models import DeclarationRun, RunStatus, SectionStep, Stage, StepStatus
from llmops.calls import last_attempt
from llmops.models import CallStatus

logger = logging.getLogger("generation.reconcile")

MAX_SCORE_SENDS = 3


@dataclass(frozen=True)
class RunsReconciled:
    started: int = 0
    callbacks: int = 0
    scores: int = 0
    unscored: int = 0
    resumed: int = 0


def reconcile_runs() -> RunsReconciled:
    from generation.pipeline import take_score_result
    from generation.tasks import advance_run_task, score_section_task

    now = timezone.now()
    stale_s = settings.AFFIANT_RUN_STALE_S
    stale = now - timedelta(seconds=stale_s)

    started = 0
    for queued in DeclarationRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=stale).values_list(
        "pk", flat=True
    ):
        advance_run_task.delay(run_id=queued)
        started += 1

    waiting = SectionStep.objects.filter(status=StepStatus.WAITING, section__run__status=RunStatus.RUNNING)
    callbacks = 0
    # Only a step older than the stale period can wait on a call that ended before it (a pure filter:
    # it spares following the call chains of the steps sent just now).
    for step in (
        waiting.exclude(stage=Stage.SCORE).exclude(call=None).filter(created_at__lt=stale).select_related("section")
    ):
        assert step.call_id is not None
        call = last_attempt(step.call_id)
        ended = call.status in (CallStatus.COMPLETED, CallStatus.FAILED)
        if ended and call.finished_at is not None and call.finished_at < stale:
            advance_run_task.delay(run_id=step.section.run_id, step_id=step.pk, call_id=call.pk)
            callbacks += 1

    scores = unscored = 0
    for step in waiting.filter(stage=Stage.SCORE).select_related("section"):
        # Sent when created (attempts 1), then again each time another stale period passes without a result.
        if step.created_at >= now - timedelta(seconds=stale_s * max(step.attempts, 1)):
            continue
        if step.attempts >= MAX_SCORE_SENDS:
            given_up = take_score_result(
                step_id=step.pk, scores=None, error=f"the scoring task was lost {MAX_SCORE_SENDS} times"
            )
            if given_up is not None:
                advance_run_task.delay(run_id=given_up)
                unscored += 1
            continue
        SectionStep.objects.filter(pk=step.pk).update(attempts=F("attempts") + 1)
        score_section_task.delay(step_id=step.pk)
        scores += 1

    resumed = 0
    for stuck in (
        DeclarationRun.objects.filter(status=RunStatus.RUNNING, started_at__lt=stale)
        .exclude(sections__steps__status=StepStatus.WAITING)
        .values_list("pk", flat=True)
        .distinct()
    ):
        advance_run_task.delay(run_id=stuck)
        resumed += 1

    reconciled = RunsReconciled(started, callbacks, scores, unscored, resumed)
    if any(vars(reconciled).values()):
        logger.info("runs reconciled", extra=vars(reconciled))
    return reconciled
