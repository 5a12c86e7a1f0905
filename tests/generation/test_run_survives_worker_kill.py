"""A run survives its GPU worker being killed outright (kill -9, mid-call) and resumes from its last
finished step once a worker is back: every step once, every result taken in once."""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import Any

import pytest

from casework.demo import demo_documents_pending, seed_demo
from generation.models import DeclarationRun, RunStatus, SectionStep, StepStatus
from generation.pipeline import do_start_run
from generation.report import run_call_ids
from llmops.models import CallStatus, HangEvent, HangKind, LLMCall
from tests.conftest import wait_until

pytestmark = pytest.mark.realstack

GPU_WORKER = "test-gpu-local"


def kill_worker(stack: Any, name: str) -> int:
    """kill -9 the worker's whole process group (main process and pool child); returns its pid."""
    entry = next((n, p) for n, p in stack.processes if n == f"worker-{name}" and p.poll() is None)
    os.killpg(entry[1].pid, signal.SIGKILL)
    entry[1].wait(timeout=10)
    stack.processes.remove(entry)
    return entry[1].pid


def test_killing_the_gpu_worker_mid_run_loses_nothing_and_repeats_nothing(realstack: Any) -> None:
    case = seed_demo()
    wait_until(lambda: demo_documents_pending(case) == 0, 90, "the demo documents to be read")
    run = do_start_run(case=case, created_by=None)

    def mid_run() -> bool:
        done = SectionStep.objects.filter(section__run=run, status=StepStatus.DONE).exists()
        return done and LLMCall.objects.filter(pk__in=run_call_ids(run), status=CallStatus.RUNNING).exists()

    wait_until(mid_run, 300, "a finished step and a call in flight")
    kill_worker(realstack, GPU_WORKER)
    # What was running when the worker died is orphaned now: nothing else will end it.
    in_flight = set(
        LLMCall.objects.filter(pk__in=run_call_ids(run), status=CallStatus.RUNNING).values_list("pk", flat=True)
    )
    realstack.start_worker(GPU_WORKER, ["gpu.local"], concurrency=1)
    wait_until(lambda: DeclarationRun.objects.get(pk=run.pk).is_finished, 900, "the run to finish")

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.versions.count() == 1
    steps = list(SectionStep.objects.filter(section__run=run))
    keys = Counter((s.section_id, s.stage, s.slot) for s in steps)
    assert max(keys.values()) == 1  # no step twice
    assert all(s.status in (StepStatus.DONE, StepStatus.FAILED) for s in steps)
    for step in steps:
        completed = LLMCall.objects.filter(callback__kwargs__step_id=step.pk, status=CallStatus.COMPLETED).count()
        assert completed <= step.attempts, step  # no call answered twice for one request
    # The call the kill cut off was ended as worker_lost (not left running) and its work done again.
    lost = HangEvent.objects.filter(call_id__in=in_flight, kind=HangKind.WORKER_LOST)
    assert lost.count() == len(in_flight) >= 1
    assert not LLMCall.objects.filter(pk__in=run_call_ids(run), status=CallStatus.RUNNING).exists()
