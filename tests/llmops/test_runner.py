"""The runner's state machine, driven by the scripted provider (the real-model path is in test_realstack)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llmops.calls import Callback, request_completion
from llmops.models import CallStatus, HangEvent, Host, LLMCall, LLMModel, Route, RouteEntry
from llmops.providers import override_provider
from llmops.providers.base import Message
from llmops.providers.fake import ScriptedProvider, Step, tokens
from llmops.runner import execute_call
from llmops.watch import LoopDetector, Watchdog

pytestmark = pytest.mark.django_db

FIRST_TOKEN_S = 0.6
STALL_S = 0.3


@pytest.fixture
def route() -> Route:
    host = Host.objects.create(name="local", kind="llamacpp")
    route = Route.objects.create(name="draft")
    for position, name in enumerate(["primary", "backup"]):
        model = LLMModel.objects.create(
            name=name,
            host=host,
            remote_name="gemma-3-270m",
            context_length=2048,
            max_output_tokens=64,
            first_token_timeout_s=FIRST_TOKEN_S,
            stall_timeout_s=STALL_S,
            total_timeout_s=5,
        )
        RouteEntry.objects.create(route=route, model=model, position=position)
    return route


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """What the runner would put on the broker: dispatched call ids and callback tasks."""
    record: dict[str, list[Any]] = {"dispatched": [], "callbacks": []}
    monkeypatch.setattr("llmops.runner.dispatch_on_commit", lambda call: record["dispatched"].append(call.pk))
    monkeypatch.setattr(
        "llmops.runner.current_app.send_task",
        lambda name, kwargs: record["callbacks"].append((name, kwargs)),
    )
    return record


def script(steps: dict[str, list[Step]]) -> Iterator[ScriptedProvider]:
    provider = ScriptedProvider(steps)
    override_provider("llamacpp", provider)
    try:
        yield provider
    finally:
        override_provider("llamacpp", None)


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> Iterator[ScriptedProvider]:
    yield from script(request.param)


def _request(route: Route) -> LLMCall:
    return request_completion(
        route=route.name,
        messages=[Message(role="user", content="Write one sentence.")],
        stage="draft",
        label="test",
        callback=Callback(task="tests.done", kwargs={"run_id": 7}),
    )


@pytest.mark.parametrize("provider", [{"primary": tokens("I met him in March 2015 at a picnic.")}], indirect=True)
def test_a_completed_call_records_its_timings_and_sends_its_callback(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = _request(route)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = execute_call(call.pk)
    call.refresh_from_db()
    assert outcome is not None and outcome.status == CallStatus.COMPLETED
    assert call.output.strip() == "I met him in March 2015 at a picnic."
    assert call.started_at and call.first_token_at and call.finished_at
    assert call.started_at <= call.first_token_at <= call.finished_at
    assert call.output_tokens == 9
    assert sent["callbacks"] == [("tests.done", {"run_id": 7, "call_id": call.pk})]
    assert not HangEvent.objects.exists()


@pytest.mark.parametrize(
    "provider",
    [{"primary": [*tokens("I met him"), Step(stall=True)], "backup": tokens("I met him in March.")}],
    indirect=True,
)
def test_stall_mid_stream_fails_over_to_next_model(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = _request(route)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = execute_call(call.pk)
    assert outcome is not None and outcome.error_kind == "stall"
    hang = HangEvent.objects.get()
    assert hang.model is not None
    assert (hang.kind, hang.action, hang.model.name, hang.stage) == ("stall", "failed_over", "primary", "draft")
    assert STALL_S <= hang.detected_after_s <= STALL_S + 1
    backup_call = LLMCall.objects.get(failed_over_from=call)
    assert backup_call.model.name == "backup" and backup_call.attempt == 2
    assert sent["dispatched"] == [backup_call.pk]
    assert sent["callbacks"] == []  # the chain is not over yet
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(backup_call.pk)
    backup_call.refresh_from_db()
    assert backup_call.status == CallStatus.COMPLETED
    assert sent["callbacks"] == [("tests.done", {"run_id": 7, "call_id": backup_call.pk})]
    assert [c.pk for c in backup_call.chain()] == [backup_call.pk, call.pk]


@pytest.mark.parametrize("provider", [{"primary": [Step(stall=True)], "backup": [Step(stall=True)]}], indirect=True)
def test_no_first_token_on_any_model_ends_the_call_failed_with_a_reason(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = _request(route)
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(call.pk)
    backup_call = LLMCall.objects.get(failed_over_from=call)
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(backup_call.pk)
    kinds = list(HangEvent.objects.order_by("id").values_list("kind", "action"))
    assert kinds == [("first_token_timeout", "failed_over"), ("first_token_timeout", "failed")]
    for hang in HangEvent.objects.all():
        assert FIRST_TOKEN_S <= hang.detected_after_s <= FIRST_TOKEN_S + 1
    backup_call.refresh_from_db()
    assert backup_call.status == CallStatus.FAILED and "no first token" in backup_call.error
    assert sent["callbacks"] == [("tests.done", {"run_id": 7, "call_id": backup_call.pk})]
    assert not LLMCall.objects.unfinished().exists()


@pytest.mark.parametrize(
    "provider", [{"primary": tokens("and then he said that he would call them " * 10), "backup": []}], indirect=True
)
def test_a_looping_answer_is_cut_as_a_loop(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = _request(route)
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(call.pk)
    call.refresh_from_db()
    assert call.error_kind == "loop"
    assert call.output.count("he would call them") < 10  # cut before the end of the loop
    assert HangEvent.objects.get().kind == "loop"


@pytest.mark.parametrize(
    "provider",
    [{"primary": [Step(error="host answered HTTP 500")], "backup": tokens("Fine.")}],
    indirect=True,
)
def test_a_host_error_fails_over_and_is_recorded(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = _request(route)
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.error_kind) == (CallStatus.FAILED, "host_error")
    assert HangEvent.objects.get().action == "failed_over"


@pytest.mark.parametrize("provider", [{"primary": tokens("Once.")}], indirect=True)
def test_a_redelivered_call_is_not_run_twice(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = _request(route)
    with django_capture_on_commit_callbacks(execute=True):
        assert execute_call(call.pk) is not None
        assert execute_call(call.pk) is None
    assert len(provider.requests) == 1
    assert len(sent["callbacks"]) == 1


def test_the_watchdog_names_the_deadline_that_passed() -> None:
    from llmops.providers.base import CancelToken

    watchdog = Watchdog(cancel=CancelToken(), first_token_s=2, stall_s=1, total_s=10)
    start = watchdog.started
    assert watchdog.check(start + 1.9) is None
    assert watchdog.check(start + 2.1) == ("first_token_timeout", pytest.approx(2.1))
    watchdog.last_progress = start + 3
    assert watchdog.check(start + 3.9) is None
    assert watchdog.check(start + 4.5) == ("stall", pytest.approx(1.5))
    watchdog.last_progress = start + 10.5
    assert watchdog.check(start + 10.6)[0] == "total_timeout"  # type: ignore[index]


def test_the_loop_detector_tells_repetition_from_prose() -> None:
    prose = (
        "On February 9, 2019 he grabbed my neck with both hands during an argument about my cousin's party. "
        "I called 911 and the police came. The officer saw the marks on my neck and arrested him. The next day "
        "I went to Ben Taub hospital, where a doctor examined my neck and sent me to a social worker. "
    )
    detector = LoopDetector()
    assert not any(detector.feed(word + " ") for word in prose.split())
    looping = LoopDetector()
    assert any(looping.feed(piece) for piece in ["I love him so much, he is very kind and sweet. "] * 6)
