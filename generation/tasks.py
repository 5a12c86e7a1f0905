from __future__ import annotations

from celery import shared_task

from generation.pipeline import advance_run


@shared_task(name="generation.advance_run", acks_late=True)
def advance_run_task(run_id: int, section_id: int | None = None, call_id: int | None = None) -> None:
    advance_run(run_id=run_id, section_id=section_id, call_id=call_id)
