"""Drafting a case from the command line through the real queues: start what is not running (embedded
Redis, model hosts, workers), run the whole pipeline, stop what was started, and sum the run up."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from casework.demo import demo_documents_pending
from casework.models import Case
from config.stack import Stack, start_backend
from generation.models import DeclarationRun
from generation.pipeline import RunNotStartable, check_can_start, do_start_run
from generation.report import run_summary


def generate(
    *,
    case_for: Callable[[], Case],
    template: str | None,
    created_by: Callable[[Case], User | None],
    timeout: float,
) -> tuple[DeclarationRun, dict[str, Any]]:
    started = time.monotonic()
    stack = Stack()
    try:
        stack.ensure_redis()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("load_llmops", stdout=sys.stderr)
        start_backend(stack)
        case = case_for()
        wait(lambda: demo_documents_pending(case) == 0, 300, "the case's documents to be read")
        try:
            check_can_start(case)
        except RunNotStartable as exc:
            raise CommandError(str(exc)) from exc
        run = do_start_run(case=case, created_by=created_by(case), template_key=template)
        wait(lambda: DeclarationRun.objects.get(pk=run.pk).is_finished, timeout, f"run {run.pk} to finish")
        run.refresh_from_db()
    finally:
        stack.stop()
    summary = run_summary(run)
    summary["seconds"] = round(time.monotonic() - started, 1)
    return run, summary


def wait(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(1)
    raise CommandError(f"timed out after {timeout:.0f}s waiting for {what}")
