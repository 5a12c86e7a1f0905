from __future__ import annotations

import logging

from celery import shared_task

from config.periodic import reconcile_on_default_worker
from generation.models import SectionStep, StepStatus
from generation.pipeline import advance_run, score_inputs, take_score_result
from generation.reconcile import reconcile_runs

logger = logging.getLogger(__name__)


# Late ack with reject-on-worker-lost: a message whose worker dies comes back; every step is taken in
# once, so a second delivery does nothing twice.
@shared_task(name="generation.advance_run", acks_late=True, reject_on_worker_lost=True)
def advance_run_task(run_id: int, step_id: int | None = None, call_id: int | None = None) -> None:
    advance_run(run_id=run_id, step_id=step_id, call_id=call_id)


@shared_task(name="generation.score_section", acks_late=True, reject_on_worker_lost=True)
def score_section_task(step_id: int) -> None:
    """BERTScore of a section's sentences against their cited passages, then the run moves on.

    Runs on the default queue (CPU work, no LLM); a redelivered message finds the step done."""
    from generation.scoring import sentence_support

    step = SectionStep.objects.select_related("section").filter(pk=step_id).first()
    if step is None:
        return
    if step.status != StepStatus.WAITING:  # a redelivery: the scores are in, make sure the run moved on
        advance_run(run_id=step.section.run_id)
        return
    error = ""
    scores: list[float | None] | None = None
    try:
        scores = sentence_support(score_inputs(step.section))
    except Exception as exc:  # a scoring failure must not stop the run: the section is marked unscored
        logger.exception("scoring failed", extra={"step_id": step_id})
        error = type(exc).__name__
    take_score_result(step_id=step_id, scores=scores, error=error)
    # Advanced even when the result was already in: a worker killed between the two is redelivered here.
    advance_run(run_id=step.section.run_id)


# Runs that a lost message left waiting are moved on.
reconcile_on_default_worker("generation-reconciler", reconcile_runs)
