"""The progress `demo --headless` and `generate` print to stderr while a run goes on: a line when the
run's state changed (sections finished, calls done and failed, sections per stage), never more often
than every few seconds, and a heartbeat when nothing changed for a long time."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from generation.headless import RunProgress, run_progress, wait
from generation.models import DeclarationRun, RunSection
from llmops.models import Host, LLMCall, LLMModel

pytestmark = pytest.mark.django_db


def _run(case: Any) -> DeclarationRun:
    run = DeclarationRun.objects.create(case=case, template="vawa", template_version=2)
    for order, (key, status, stage) in enumerate(
        [
            ("introduction", "drafted", "done"),
            ("life_before", "missing", "done"),
            ("how_we_met", "drafting", "draft"),
            ("marriage", "drafting", "judge"),
            ("abuser_status", "drafting", "judge"),
            ("residence", "pending", "extract"),
        ]
    ):
        RunSection.objects.create(run=run, key=key, heading=key, order=order, status=status, stage=stage)
    return run


def _call(run: DeclarationRun, model: LLMModel, status: str) -> LLMCall:
    return LLMCall.objects.create(
        model=model, host=model.host, stage="draft", messages=[], max_tokens=8, status=status,
        callback={"task": "generation.advance_run", "kwargs": {"run_id": run.pk, "step_id": 1}},
    )  # fmt: skip


@pytest.fixture
def model() -> LLMModel:
    host = Host.objects.create(name="local", kind="llamacpp")
    return LLMModel.objects.create(
        name="m", host=host, remote_name="m", context_length=2048, max_output_tokens=64,
        first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
    )  # fmt: skip


def test_the_line_counts_sections_calls_failures_and_stages(firm_people: dict[str, Any], model: LLMModel) -> None:
    run = _run(firm_people["case"])
    for status in ["completed"] * 5 + ["failed", "running", "queued"]:
        _call(run, model, status)
    other = _run(firm_people["case"])
    _call(other, model, "failed")  # another run's calls are not this run's
    assert run_progress(run.pk) == ("sections 2/6 | calls 6 done (1 failed), 2 in flight | extract 1, draft 1, judge 2")
    assert run_progress(
        DeclarationRun.objects.create(case=firm_people["case"], template="vawa", template_version=2).pk
    ) == ("sections 0/0 | calls 0 done, 0 in flight")


def test_a_line_when_something_changed_at_most_every_few_seconds(
    firm_people: dict[str, Any], model: LLMModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(firm_people["case"])
    clock = [1000.0]
    monkeypatch.setattr("generation.headless.time.monotonic", lambda: clock[0])
    out = io.StringIO()
    progress = RunProgress(run.pk, started=990.0, stream=out, every=5, heartbeat=60)
    assert progress.tick() == "[   10s] sections 2/6 | calls 0 done, 0 in flight | extract 1, draft 1, judge 2"
    _call(run, model, "completed")
    clock[0] += 2
    assert progress.tick() is None  # changed, but too soon
    clock[0] += 4
    assert progress.tick() == "[   16s] sections 2/6 | calls 1 done, 0 in flight | extract 1, draft 1, judge 2"
    clock[0] += 30
    assert progress.tick() is None  # nothing changed
    clock[0] += 30
    assert progress.tick() is not None  # a heartbeat: still waiting on a long call
    RunSection.objects.filter(run=run).update(status="drafted", stage="done")
    assert progress.tick(force=True) == "[   76s] sections 6/6 | calls 1 done, 0 in flight"  # the last state
    clock[0] += 6
    assert progress.tick() is None and progress.tick(force=True) is None  # printed already
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and all(re.match(r"\[\s*\d+s\] sections \d+/\d+ \| calls \d+ done", x) for x in lines)


def test_wait_ticks_while_it_waits() -> None:
    ticks: list[int] = []
    wait(lambda: len(ticks) >= 2, 10, "two ticks", tick=lambda: ticks.append(1))
    assert len(ticks) == 2
