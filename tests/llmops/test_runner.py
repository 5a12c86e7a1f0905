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
    monkeypatch.setattr(
        "llmops.runner.dispatch_on_commit",
        lambda call, countdown=0.0: record["dispatched"].append((call.pk, countdown)),
    )
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
    assert sent["dispatched"] == [(backup_call.pk, 0.0)]
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


# --- the context guard ---------------------------------------------------------------------------


def _evidence_request(route: Route, passages: int, words_each: int, max_tokens: int = 64) -> LLMCall:
    evidence = tuple(f"passage{i} " + "word " * words_each for i in range(passages))
    return request_completion(
        route=route.name,
        messages=[Message(role="system", content="Evidence:\n{evidence}", evidence=evidence),
                  Message(role="user", content="Write one sentence.")],
        stage="draft",
        max_tokens=max_tokens,
    )  # fmt: skip


@pytest.mark.parametrize("provider", [{"primary": tokens("Fits now.")}], indirect=True)
def test_a_prompt_too_long_for_the_context_drops_its_lowest_ranked_evidence(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    # 2048 context - 64 output - margin leaves about 1950 tokens: 4 passages of 600 words do not fit, 3 do.
    call = _evidence_request(route, passages=4, words_each=600)
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(call.pk)
    call.refresh_from_db()
    assert call.status == CallStatus.COMPLETED
    sent_text = provider.requests[0][1].messages[0].content
    assert "passage0" in sent_text and "passage2" in sent_text and "passage3" not in sent_text
    assert call.prompt_tokens is not None and call.prompt_tokens <= 2048 - 64
    assert call.n_ctx == 2048


@pytest.mark.parametrize(
    "provider", [{"primary": tokens("Never sent."), "backup": tokens("Never sent.")}], indirect=True
)
def test_a_prompt_that_cannot_fit_fails_as_context_overflow_without_calling_the_host(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    call = request_completion(
        route=route.name, messages=[Message(role="user", content="word " * 3000)], stage="draft", max_tokens=64
    )
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.error_kind) == (CallStatus.FAILED, "context_overflow")
    assert "has room for" in call.error
    assert provider.requests == []
    assert not HangEvent.objects.exists()  # the prompt's fault, not a hang


def test_a_host_that_evaluates_fewer_prompt_tokens_than_sent_fails_the_call_as_truncated(
    route: Route, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    for provider in script({"primary": tokens("Looks fine."), "backup": tokens("Fine.")}):
        provider.reported_prompt_tokens = {"primary": 2}
        call = _request(route)
        with django_capture_on_commit_callbacks(execute=True):
            execute_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.error_kind) == (CallStatus.FAILED, "truncated")
    assert "evaluated 2 of the" in call.error
    assert HangEvent.objects.get().kind == "truncated"


# --- retries and circuits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider", [{"primary": [Step(error="host answered HTTP 503")], "backup": tokens("Fine.")}], indirect=True
)
def test_a_transient_error_is_retried_on_the_same_model_with_backoff_before_failing_over(
    route: Route,
    provider: ScriptedProvider,
    sent: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmops.providers.fake import ScriptedProvider as Scripted

    original = Scripted.stream

    def transient_stream(self: Scripted, spec: Any, request: Any, cancel: Any) -> Any:
        from llmops.providers.base import ProviderError

        if spec.name == "primary":
            raise ProviderError("host answered HTTP 503", transient=True)
        return original(self, spec, request, cancel)

    monkeypatch.setattr(Scripted, "stream", transient_stream)
    call = _request(route)
    chain = [call.pk]
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            outcome = execute_call(chain[-1])
        assert outcome is not None
        if outcome.next_call_id is None:
            break
        chain.append(outcome.next_call_id)
    calls = [LLMCall.objects.get(pk=pk) for pk in chain]
    assert [c.model.name for c in calls] == ["primary", "primary", "primary", "backup"]
    assert [c.status for c in calls] == ["failed", "failed", "failed", "completed"]
    assert [countdown for _, countdown in sent["dispatched"]] == [1.0, 2.0, 0.0]
    actions = list(HangEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["retried", "retried", "failed_over"]


@pytest.mark.parametrize("provider", [{"primary": [Step(stall=True)], "backup": tokens("Fine.")}], indirect=True)
def test_a_model_whose_calls_keep_hanging_has_its_circuit_opened_then_half_opened(
    route: Route,
    provider: ScriptedProvider,
    sent: dict[str, list[Any]],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from llmops.circuits import CircuitState, accepts_calls, circuit_for, do_reset_circuit

    settings.LLMOPS_CIRCUIT_FAILURES = 2
    primary = LLMModel.objects.get(name="primary")
    for _ in range(2):
        call = _request(route)
        assert call.model == primary
        with django_capture_on_commit_callbacks(execute=True):
            execute_call(call.pk)
    assert circuit_for(primary).state == CircuitState.OPEN
    assert _request(route).model.name == "backup"  # routes skip an open circuit
    LLMCall.objects.unfinished().update(status=CallStatus.FAILED, error_kind="test")
    LLMCall.objects.filter(model=primary).update(finished_at=timezone.now() - timedelta(seconds=61))
    assert circuit_for(primary).state == CircuitState.HALF_OPEN
    probe = _request(route)
    assert probe.model == primary  # one probe goes through
    assert not accepts_calls(primary)  # and only one
    probe.delete()
    do_reset_circuit(primary)
    primary.refresh_from_db()
    assert circuit_for(primary).state == CircuitState.CLOSED


# --- external hosts -------------------------------------------------------------------------------


class _NameRedactor:
    """Stands in for the case vault in this unit test: one known name and its placeholder."""

    def redact(self, text: str) -> str:
        return text.replace("Maria Lopez", "<PERSON_1>")

    def restore(self, text: str) -> str:
        return text.replace("<PERSON_1>", "Maria Lopez")

    def allows_external(self) -> bool:
        return True


def name_redactor() -> _NameRedactor:
    return _NameRedactor()


@pytest.mark.parametrize("provider", [{"primary": tokens("<PERSON_1> met him in 2015.")}], indirect=True)
def test_an_external_host_sees_placeholders_and_the_answer_is_restored(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    from llmops.calls import RedactorRef

    Host.objects.filter(name="local").update(external=True)
    call = request_completion(
        route=route.name,
        messages=[Message(role="user", content="Maria Lopez wrote:", evidence=("Maria Lopez met him.",))],
        stage="draft",
        redactor=RedactorRef(path="tests.llmops.test_runner:name_redactor"),
        allow_external=True,
    )
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(call.pk)
    call.refresh_from_db()
    outbound = provider.requests[0][1].messages[0].content
    assert "Maria Lopez" not in outbound and outbound.count("<PERSON_1>") == 2
    assert call.status == CallStatus.COMPLETED
    assert call.output.strip() == "Maria Lopez met him in 2015."


@pytest.mark.parametrize("provider", [{"primary": tokens("x"), "backup": tokens("x")}], indirect=True)
def test_an_external_host_without_a_redactor_is_never_sent_the_text(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    Host.objects.filter(name="local").update(external=True)
    call = request_completion(
        route=route.name, messages=[Message(role="user", content="x")], stage="draft", allow_external=True
    )
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.error_kind) == (CallStatus.FAILED, "no_redactor")
    assert provider.requests == []


def test_without_consent_a_route_skips_external_models(route: Route) -> None:
    from llmops.calls import NoModelAvailable

    external = Host.objects.create(name="openrouter", kind="openai", url="http://127.0.0.1:9", external=True)
    LLMModel.objects.filter(name="primary").update(host=external)
    assert _request(route).model.name == "backup"
    LLMModel.objects.filter(name="backup").update(host=external)
    with pytest.raises(NoModelAvailable, match="inside the firm"):
        _request(route)
    call = request_completion(
        route=route.name, messages=[Message(role="user", content="x")], stage="draft", allow_external=True
    )
    assert call.model.name == "primary" and call.allow_external


def test_a_hosted_api_is_external_even_where_its_row_says_otherwise(route: Route) -> None:
    from llmops.calls import spec_for

    openrouter = Host.objects.create(name="openrouter", kind="openai", url="https://openrouter.ai/api", external=False)
    LLMModel.objects.filter(name="primary").update(host=openrouter)
    assert spec_for(LLMModel.objects.get(name="primary")).external
    assert _request(route).model.name == "backup"  # no consent: the route skips it


@pytest.mark.parametrize("provider", [{"primary": tokens("x"), "backup": tokens("x")}], indirect=True)
def test_a_queued_call_is_not_sent_once_its_host_has_become_external(
    route: Route, provider: ScriptedProvider, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    from llmops.calls import RedactorRef
    from llmops.circuits import circuit_for

    call = request_completion(
        route=route.name,
        messages=[Message(role="user", content="Maria Lopez wrote:")],
        stage="draft",
        redactor=RedactorRef(path="tests.llmops.test_runner:name_redactor"),
    )
    Host.objects.filter(name="local").update(external=True)  # while the call waits in its queue
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.error_kind) == (CallStatus.FAILED, "no_consent")
    assert "outside the firm" in call.error
    assert provider.requests == []
    assert circuit_for(call.model).recent_failures == 0  # not the model's fault
    assert not LLMCall.objects.filter(failed_over_from=call).exists()  # the backup is external now too


@pytest.mark.parametrize("provider", [{"primary": tokens("x"), "backup": tokens("x")}], indirect=True)
def test_a_queued_call_is_not_sent_once_the_client_has_withdrawn_consent(
    route: Route,
    provider: ScriptedProvider,
    sent: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
    firm_people: dict[str, Any],
) -> None:
    from casework.models import Case
    from llmops.calls import RedactorRef

    case = firm_people["case"]
    Case.objects.filter(pk=case.pk).update(consent_external=True)
    Host.objects.filter(name="local").update(external=True)
    call = request_completion(
        route=route.name,
        messages=[Message(role="user", content="Jane Doe wrote:")],
        stage="draft",
        redactor=RedactorRef(path="casework.pii:redactor_for_case", kwargs={"case_id": case.pk}),
        allow_external=True,
    )
    Case.objects.filter(pk=case.pk).update(consent_external=False)  # while the call waits in its queue
    with django_capture_on_commit_callbacks(execute=True):
        execute_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.error_kind) == (CallStatus.FAILED, "no_consent")
    assert "no longer consents" in call.error
    assert provider.requests == []


# --- Celery's time limits ----------------------------------------------------------------------


@pytest.mark.parametrize("provider", [{"primary": [Step(stall=True)], "backup": tokens("Fine.")}], indirect=True)
def test_the_soft_time_limit_is_recorded_as_such_and_fails_over(
    route: Route,
    provider: ScriptedProvider,
    sent: dict[str, list[Any]],
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    def soft_limit(*args: Any, **kwargs: Any) -> Any:
        raise SoftTimeLimitExceeded()
        yield  # a generator, like every provider's stream

    monkeypatch.setattr(provider, "stream", soft_limit)
    call = _request(route)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = execute_call(call.pk)
    assert outcome is not None and outcome.error_kind == "soft_limit"
    hang = HangEvent.objects.get()
    assert (hang.kind, hang.action) == ("soft_limit", "failed_over")


def test_the_hard_time_limit_handler_fails_a_call_left_running_and_only_once(
    route: Route, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    from celery.exceptions import TimeLimitExceeded

    from llmops.tasks import record_hard_time_limit, run_llm_call_task

    call = _request(route)
    LLMCall.objects.filter(pk=call.pk).update(status=CallStatus.RUNNING)  # as the killed child left it
    with django_capture_on_commit_callbacks(execute=True):
        record_hard_time_limit(sender=run_llm_call_task, exception=TimeLimitExceeded(30), args=(call.pk,))
        record_hard_time_limit(sender=run_llm_call_task, exception=TimeLimitExceeded(30), args=(call.pk,))
    call.refresh_from_db()
    assert (call.status, call.error_kind) == (CallStatus.FAILED, "hard_limit")
    hang = HangEvent.objects.get()
    assert (hang.kind, hang.action) == ("hard_limit", "failed_over")
    assert LLMCall.objects.filter(failed_over_from=call, model__name="backup").count() == 1


# --- the reconciler ----------------------------------------------------------------------------


def test_a_call_left_running_by_a_dead_worker_is_ended_as_worker_lost_and_retried(
    route: Route, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from llmops.reconcile import reconcile_calls

    redispatched: list[int] = []
    monkeypatch.setattr("llmops.reconcile.dispatch_on_commit", lambda call, countdown=0.0: redispatched.append(call.pk))
    dead = _request(route)
    recent = _request(route)
    # 5 s total deadline + 15 s soft margin + 45 s hard margin = 65 s hard limit, plus 30 s of grace.
    LLMCall.objects.filter(pk=dead.pk).update(
        status=CallStatus.RUNNING, started_at=timezone.now() - timedelta(seconds=120)
    )
    LLMCall.objects.filter(pk=recent.pk).update(
        status=CallStatus.RUNNING, started_at=timezone.now() - timedelta(seconds=30)
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = reconcile_calls()
    assert result.lost == 1
    dead.refresh_from_db()
    recent.refresh_from_db()
    assert (dead.status, dead.error_kind) == (CallStatus.FAILED, "worker_lost")
    assert recent.status == CallStatus.RUNNING  # still within its limits
    # Not the model's fault: the same model is asked again (after the usual backoff).
    assert HangEvent.objects.get(call=dead).action == "retried"
    again = LLMCall.objects.get(failed_over_from=dead)
    assert again.model_id == dead.model_id
    assert [pk for pk, _ in sent["dispatched"]] == [again.pk]


def test_a_call_whose_worker_restarted_or_went_silent_is_lost_at_once(
    route: Route, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from llmops.models import WorkerHeartbeat
    from llmops.reconcile import reconcile_calls

    settings.AFFIANT_HEARTBEAT_LOST_S = 30
    now = timezone.now()
    host = route.ordered_models()[0].host
    for name, pid, at in (("gpu@restarted", 200, now), ("gpu@silent", 300, now - timedelta(seconds=60)),
                          ("gpu@alive", 400, now)):  # fmt: skip
        WorkerHeartbeat.objects.create(host=host, worker=name, pid=pid, at=at, started_at=now)
    calls = {}
    for name, pid in (("gpu@restarted", 100), ("gpu@silent", 300), ("gpu@alive", 400), ("api@box", 500)):
        call = _request(route)
        LLMCall.objects.filter(pk=call.pk).update(
            status=CallStatus.RUNNING, started_at=now - timedelta(seconds=10), worker=name, worker_pid=pid
        )
        calls[name] = call
    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile_calls().lost == 2
    status = {name: LLMCall.objects.get(pk=c.pk).error_kind for name, c in calls.items()}
    assert status == {"gpu@restarted": "worker_lost", "gpu@silent": "worker_lost", "gpu@alive": "", "api@box": ""}


def test_a_redelivery_after_its_pool_child_was_killed_ends_the_call_at_once_and_retries_it(
    route: Route, sent: dict[str, list[Any]], django_capture_on_commit_callbacks: Any
) -> None:
    """The main process (this test's parent pid) took the call in a child that is gone; its message
    comes back: the call ends as worker_lost and is retried on the same model, without waiting for the
    reconciler. A redelivery while the child that runs the call is alive leaves it alone."""
    import os
    import subprocess

    from llmops.runner import WorkerRef, execute_call

    main_pid = os.getpid()  # stands in for the worker's main process; its children are our pool
    alive = subprocess.Popen(["sleep", "30"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    try:
        killed, running = _request(route), _request(route)
        for call, child in ((killed, dead.pid), (running, alive.pid)):
            LLMCall.objects.filter(pk=call.pk).update(
                status=CallStatus.RUNNING, worker="gpu@box", worker_pid=main_pid, worker_child_pid=child
            )
        redelivered_in = WorkerRef(name="gpu@box", pid=main_pid, child_pid=alive.pid + 100000)
        with django_capture_on_commit_callbacks(execute=True):
            assert execute_call(killed.pk, redelivered_in) is None
            assert execute_call(running.pk, redelivered_in) is None
        killed.refresh_from_db()
        running.refresh_from_db()
        assert (killed.status, killed.error_kind) == (CallStatus.FAILED, "worker_lost")
        assert HangEvent.objects.get(call=killed).action == "retried"
        again = LLMCall.objects.get(failed_over_from=killed)
        assert again.model_id == killed.model_id and again.status == CallStatus.QUEUED
        assert running.status == CallStatus.RUNNING  # its child still runs it
        other_worker = WorkerRef(name="gpu@other", pid=main_pid + 1, child_pid=5)
        assert execute_call(running.pk, other_worker) is None
        running.refresh_from_db()
        assert running.status == CallStatus.RUNNING  # not this worker's call to judge
    finally:
        alive.kill()
        alive.wait()


def test_a_call_queued_too_long_is_sent_again(route: Route, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from llmops.reconcile import reconcile_calls

    redispatched: list[int] = []
    monkeypatch.setattr("llmops.reconcile.dispatch_on_commit", lambda call, countdown=0.0: redispatched.append(call.pk))
    settings.LLMOPS_REDISPATCH_AFTER_S = 600
    lost_message = _request(route)
    fresh = _request(route)
    LLMCall.objects.filter(pk=lost_message.pk).update(queued_at=timezone.now() - timedelta(seconds=900))
    assert reconcile_calls().redispatched == 1
    assert redispatched == [lost_message.pk] and fresh.pk not in redispatched
