"""Drafting a case from the command line through the real queues: start what is not running (embedded
Redis, model hosts, workers), run the whole pipeline, stop what was started, and sum the run up.

While it waits it prints progress to stderr (stdout is kept for the final JSON line): one line when
something changed, at most every few seconds, e.g.
`[  95s] sections 3/14 | calls 21 done (1 failed), 1 in flight | extract 4, draft 2, judge 3`.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from casework.demo import demo_documents_pending
from casework.models import Case, Document
from config.stack import Stack, start_backend
from generation.models import STAGE_ORDER, DeclarationRun, RunSection, SectionStatus
from generation.pipeline import RunNotStartable, check_can_start, do_start_run
from generation.report import run_summary
from llmops.models import CallStatus, LLMCall

_FINISHED = (SectionStatus.DRAFTED, SectionStatus.MISSING, SectionStatus.FAILED)


def generate(
    *,
    case_for: Callable[[], Case],
    template: str | None,
    created_by: Callable[[Case], User | None],
    timeout: float,
    progress: TextIO | None = None,
) -> tuple[DeclarationRun, dict[str, Any]]:
    """`progress`: where the progress lines go (stderr when None). A SIGTERM stops what it started, as
    Ctrl-C does: it would otherwise leave the model host, the workers and Redis running."""
    started = time.monotonic()
    stack = Stack()
    restore = _interrupt_on_sigterm()
    try:
        stack.ensure_redis()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("load_llmops", stdout=sys.stderr)
        start_backend(stack)
        case = case_for()
        reading = DocumentProgress(case, started=started, stream=progress)
        wait(lambda: demo_documents_pending(case) == 0, 300, "the case's documents to be read", tick=reading.tick)
        try:
            check_can_start(case)
        except RunNotStartable as exc:
            raise CommandError(str(exc)) from exc
        run = do_start_run(case=case, created_by=created_by(case), template_key=template)
        drafting = RunProgress(run.pk, started=started, stream=progress)
        try:
            wait(
                lambda: DeclarationRun.objects.get(pk=run.pk).is_finished,
                timeout,
                f"run {run.pk} to finish",
                tick=drafting.tick,
            )
        finally:
            drafting.tick(force=True)
        run.refresh_from_db()
    finally:
        stack.stop()
        restore()
    summary = run_summary(run)
    summary["seconds"] = round(time.monotonic() - started, 1)
    return run, summary


def _interrupt_on_sigterm() -> Callable[[], None]:
    """SIGTERM raises KeyboardInterrupt (so `finally` blocks run) until the returned function restores the
    handler there was; a no-op off the main thread, where Python allows no handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def wait(done: Callable[[], bool], timeout: float, what: str, tick: Callable[[], object] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick is not None:
            tick()
        if done():
            return
        time.sleep(1)
    raise CommandError(f"timed out after {timeout:.0f}s waiting for {what}")


class Progress:
    """Prints a line describing the state when it changed and `every` seconds have passed since the last
    line, or when `heartbeat` seconds have (so a long model call does not look like a hang)."""

    def __init__(
        self, *, started: float, stream: TextIO | None = None, every: float = 5.0, heartbeat: float = 60.0
    ) -> None:
        self.started = started
        self.stream = stream
        self.every = every
        self.heartbeat = heartbeat
        self.last_state: str | None = None
        self.last_at = float("-inf")

    def state(self) -> str:
        raise NotImplementedError

    def tick(self, *, force: bool = False) -> str | None:
        """The line printed, or None when nothing was. `force`: print the state now if it is not the last line's."""
        now = time.monotonic()
        if not force and now - self.last_at < self.every:
            return None
        state = self.state()
        if state == self.last_state and (force or now - self.last_at < self.heartbeat):
            return None
        line = f"[{now - self.started:5.0f}s] {state}"
        print(line, file=self.stream or sys.stderr, flush=True)
        self.last_state, self.last_at = state, now
        return line


class DocumentProgress(Progress):
    def __init__(self, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def state(self) -> str:
        documents = Document.objects.filter(case=self.case)
        pending = documents.filter(status__in=["queued", "processing"]).count()
        total = documents.count()
        return f"documents read {total - pending}/{total}"


class RunProgress(Progress):
    def __init__(self, run_id: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id

    def state(self) -> str:
        return run_progress(self.run_id)


def run_progress(run_id: int) -> str:
    """`sections 3/14 | calls 21 done (1 failed), 1 in flight | extract 4, draft 2, judge 3`: the sections
    finished of all, the run's LLM calls, and how many unfinished sections are at each stage."""
    sections = list(RunSection.objects.filter(run_id=run_id).values_list("status", "stage"))
    finished = sum(1 for status, _ in sections if status in _FINISHED)
    calls = Counter(LLMCall.objects.filter(callback__kwargs__run_id=run_id).values_list("status", flat=True))
    done = calls[CallStatus.COMPLETED] + calls[CallStatus.FAILED]
    failed = f" ({calls[CallStatus.FAILED]} failed)" if calls[CallStatus.FAILED] else ""
    running = calls[CallStatus.RUNNING] + calls[CallStatus.QUEUED]
    line = f"sections {finished}/{len(sections)} | calls {done} done{failed}, {running} in flight"
    stages = Counter(stage for status, stage in sections if status not in _FINISHED)
    at = ", ".join(f"{stage} {stages[stage]}" for stage in STAGE_ORDER if stages[stage])
    return f"{line} | {at}" if at else line
