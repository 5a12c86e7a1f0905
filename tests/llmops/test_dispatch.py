from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from llmops.dispatch import pick_next_call
from llmops.models import Host, LLMCall, LLMModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> Host:
    return Host.objects.create(name="local", kind="llamacpp", dispatch="grouped")


def _model(host: Host, name: str) -> LLMModel:
    return LLMModel.objects.create(
        name=name, host=host, remote_name="gemma-3-270m", context_length=2048, max_output_tokens=64,
        first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
    )  # fmt: skip


def _queue(model: LLMModel, seconds_ago: float, **fields: Any) -> LLMCall:
    call = LLMCall.objects.create(model=model, host=model.host, stage="draft", messages=[], max_tokens=8, **fields)
    LLMCall.objects.filter(pk=call.pk).update(queued_at=timezone.now() - timedelta(seconds=seconds_ago))
    return call


def test_waiting_calls_for_the_model_just_used_go_first(host: Host) -> None:
    a, b = _model(host, "a"), _model(host, "b")
    first_b = _queue(b, 30)
    first_a = _queue(a, 20)
    _queue(b, 10)
    assert pick_next_call(host.pk) == first_b.pk  # nothing ran yet: arrival order
    _queue(a, 60, status="completed", started_at=timezone.now() - timedelta(seconds=1))
    assert pick_next_call(host.pk) == first_a.pk  # model a is the one just used


def test_a_call_that_waited_past_the_bound_goes_next_whatever_the_model(host: Host, settings: Any) -> None:
    settings.AFFIANT_SWAP_MAX_WAIT_S = 60
    a, b = _model(host, "a"), _model(host, "b")
    starving = _queue(b, 90)
    _queue(a, 5)
    _queue(a, 200, status="completed", started_at=timezone.now())
    assert pick_next_call(host.pk) == starving.pk


def test_a_retry_in_its_backoff_is_not_picked(host: Host) -> None:
    a = _model(host, "a")
    _queue(a, 30, not_before=timezone.now() + timedelta(seconds=30))
    ready = _queue(a, 10)
    assert pick_next_call(host.pk) == ready.pk
    LLMCall.objects.filter(pk=ready.pk).update(status="running")
    assert pick_next_call(host.pk) is None
