"""Running one LLM call to its end: stream under deadlines, record everything, fail over or fail.

A call always ends `completed` or `failed` with a reason. Every hang is a HangEvent saying what it
was, how long it took to see, and what was done about it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import psutil
from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from llmops.calls import Callback, dispatch_on_commit, request_for, spec_for, usable
from llmops.circuits import accepts_calls
from llmops.context import ContextOverflow, fit_context, was_truncated
from llmops.models import CallStatus, HangAction, HangEvent, HangKind, LLMCall, LLMModel
from llmops.providers import get_provider
from llmops.providers.base import Cancelled, CancelToken, Delta, ProviderError, StreamEnd
from llmops.redaction import ConsentMissing, RedactionUnavailable, Redactor, redact_request, redactor_for_sending
from llmops.refusals import refusal_in
from llmops.watch import Watchdog, loop_detector_for

logger = logging.getLogger("llmops.calls")

HANG_KINDS = frozenset(HangKind.values)


@dataclass(frozen=True)
class Outcome:
    call_id: int
    status: str
    error_kind: str = ""
    next_call_id: int | None = None


@dataclass(frozen=True)
class WorkerRef:
    """Which worker process runs a call: Celery's worker name and its main process's pid, which its
    heartbeat also reports, so the reconciler knows a call is orphaned the moment the worker restarts;
    and the pool process (child) that runs it, so a redelivery knows the moment that child was killed."""

    name: str = ""
    pid: int | None = None
    child_pid: int | None = None


# Calls run outside a Celery worker (tests, `manage.py llmcall`) belong to no worker.
NO_WORKER = WorkerRef()


def claim_call(call_id: int, worker: WorkerRef = NO_WORKER) -> LLMCall | None:
    """Queued → running for exactly one worker; a redelivered message finds nothing to do."""
    claimed = LLMCall.objects.filter(pk=call_id, status=CallStatus.QUEUED).update(
        status=CallStatus.RUNNING,
        started_at=timezone.now(),
        worker=worker.name[:200],
        worker_pid=worker.pid,
        worker_child_pid=worker.child_pid,
    )
    if claimed != 1:
        end_if_child_killed(call_id, worker)
        return None
    return LLMCall.objects.select_related("model__host", "host", "route").get(pk=call_id)


def end_if_child_killed(call_id: int, worker: WorkerRef) -> None:
    """A late-acknowledged message comes back to its worker when the pool child running it dies
    (kill -9, the OOM killer). If this worker's main process took the call and the child that ran it
    is gone, the call is over: it ends as `worker_lost` now, and is retried, instead of waiting for the
    reconciler's deadline. A child still alive (a message redelivered for another reason) is left alone."""
    if worker.pid is None or worker.child_pid is None:
        return
    call = (
        LLMCall.objects.select_related("model__host", "host", "route")
        .filter(pk=call_id, status=CallStatus.RUNNING, worker=worker.name[:200], worker_pid=worker.pid)
        .first()
    )
    if call is None or call.worker_child_pid is None or _is_child_alive(call.worker_child_pid, worker):
        return
    finish_failed(
        call,
        kind=HangKind.WORKER_LOST,
        message="the worker process running this call was killed",
        detected_after_s=(timezone.now() - (call.started_at or call.queued_at)).total_seconds(),
        transient=True,
    )


def _is_child_alive(pid: int, worker: WorkerRef) -> bool:
    if pid == worker.child_pid:
        return False  # this very process now: the one that had the pid before is gone
    try:
        return psutil.Process(pid).ppid() == worker.pid
    except psutil.Error:
        return False


def execute_call(call_id: int, worker: WorkerRef = NO_WORKER) -> Outcome | None:
    """Run a queued call on its model. Returns None when the call was not queued (already taken)."""
    call = claim_call(call_id, worker)
    if call is None:
        return None
    spec = spec_for(call.model)
    cancel = CancelToken()
    loop = loop_detector_for(call.json_schema)
    pieces: list[str] = []
    end: StreamEnd | None = None
    redactor: Redactor | None = None
    # Written with the call's final update: one commit per call instead of one per step.
    recorded: dict[str, Any] = {}
    watchdog = Watchdog(
        cancel=cancel,
        first_token_s=spec.first_token_timeout_s,
        stall_s=spec.stall_timeout_s,
        total_s=spec.total_timeout_s,
    )

    def restored(text: str) -> str:
        return redactor.restore(text) if redactor is not None else text

    try:
        with watchdog:
            provider = get_provider(spec.host_kind)
            request = request_for(call)
            if spec.external:  # the host as claim_call just read it, not as it was when the call was queued
                redactor = redactor_for_sending(call.redactor, allowed=call.allow_external, host_name=spec.host_name)
                request = redact_request(request, redactor)
            fitted = fit_context(provider, spec, request)
            recorded["prompt_tokens"] = fitted.prompt_tokens
            if spec.host_kind == "ollama":  # the one API that takes num_ctx per call; others report their own
                recorded["n_ctx"] = fitted.request.num_ctx
            for item in provider.stream(spec, fitted.request, cancel):
                if isinstance(item, Delta):
                    if not watchdog.seen_first_token:
                        recorded["first_token_at"] = timezone.now()
                    watchdog.progress()
                    pieces.append(item.text)
                    if loop.feed(item.text):
                        watchdog.detected_after_s = round(watchdog.elapsed(), 3)
                        cancel.cancel(HangKind.LOOP)
                        raise Cancelled(HangKind.LOOP)
                elif isinstance(item, StreamEnd):
                    end = item
    except Cancelled as exc:
        detected = watchdog.detected_after_s if watchdog.detected_after_s is not None else watchdog.elapsed()
        return finish_failed(
            call,
            kind=exc.reason,
            message=_describe(exc.reason, spec.name),
            detected_after_s=detected,
            partial_output=restored("".join(pieces)),
            recorded=recorded,
        )
    except ContextOverflow as exc:
        return finish_failed(call, kind="context_overflow", message=str(exc), detected_after_s=watchdog.elapsed())
    except RedactionUnavailable as exc:
        return finish_failed(call, kind="no_redactor", message=str(exc), detected_after_s=watchdog.elapsed())
    except ConsentMissing as exc:
        return finish_failed(call, kind="no_consent", message=str(exc), detected_after_s=watchdog.elapsed())
    except ProviderError as exc:
        return finish_failed(
            call,
            kind=exc.kind,
            message=str(exc),
            detected_after_s=watchdog.elapsed(),
            partial_output=restored("".join(pieces)),
            transient=exc.transient,
            recorded=recorded,
        )
    except SoftTimeLimitExceeded:
        cancel.cancel(HangKind.SOFT_LIMIT)
        return finish_failed(
            call,
            kind=HangKind.SOFT_LIMIT,
            message="the task passed its soft time limit",
            detected_after_s=watchdog.elapsed(),
            partial_output=restored("".join(pieces)),
            recorded=recorded,
        )
    if end is None:
        return finish_failed(
            call,
            kind=HangKind.DISCONNECT,
            message="the stream ended early",
            detected_after_s=watchdog.elapsed(),
            recorded=recorded,
        )
    if was_truncated(fitted, end.prompt_tokens):
        return finish_failed(
            call,
            kind=HangKind.TRUNCATED,
            message=f"{spec.name} evaluated {end.prompt_tokens} of the {fitted.prompt_tokens} prompt tokens sent",
            detected_after_s=watchdog.elapsed(),
            recorded={**recorded, "prompt_tokens": end.prompt_tokens},
        )
    text = restored("".join(pieces))
    if refusal_in(text, structured=call.json_schema is not None) is not None:
        # The refusal itself is kept as the call's output (privileged, like any answer), not in the message.
        return finish_failed(
            call,
            kind=HangKind.REFUSED,
            message=_describe(HangKind.REFUSED, spec.name),
            detected_after_s=watchdog.elapsed(),
            partial_output=text,
            recorded=recorded,
        )
    return finish_completed(call, text=text, end=end, recorded=recorded)


def _describe(kind: str, model_name: str) -> str:
    descriptions: dict[str, str] = {
        HangKind.FIRST_TOKEN_TIMEOUT: f"{model_name} sent no first token before its deadline",
        HangKind.STALL: f"{model_name} stopped sending tokens mid-stream",
        HangKind.TOTAL_TIMEOUT: f"{model_name} passed its total deadline",
        HangKind.LOOP: f"{model_name} kept repeating itself",
        HangKind.REFUSED: f"{model_name} refused the request instead of answering it",
    }
    return descriptions.get(kind, f"{model_name}: {kind}")


def drain(pending: list[tuple[int, float]]) -> LLMCall | None:
    """Run collected calls here, in order, with their backoffs, until none is left (see
    `calls.dispatch_locally`). Returns the last call run: the end of the chain."""
    last: int | None = None
    while pending:
        call_id, countdown = pending.pop(0)
        time.sleep(countdown)
        execute_call(call_id)
        last = call_id
    return LLMCall.objects.filter(pk=last).first() if last is not None else None


def phase_seconds(timings: dict[str, Any]) -> dict[str, float | None]:
    """Load, prompt-evaluation and generation time from the host's own report, where it gives one."""
    if "load_duration" in timings or "eval_duration" in timings:  # Ollama: nanoseconds
        return {
            key: round(timings[name] / 1e9, 3) if isinstance(timings.get(name), int | float) else None
            for key, name in (
                ("load_s", "load_duration"),
                ("prompt_eval_s", "prompt_eval_duration"),
                ("generation_s", "eval_duration"),
            )
        }
    if "prompt_ms" in timings or "predicted_ms" in timings:  # llama.cpp server: milliseconds
        return {
            "load_s": None,
            "prompt_eval_s": round(timings["prompt_ms"] / 1000, 3) if "prompt_ms" in timings else None,
            "generation_s": round(timings["predicted_ms"] / 1000, 3) if "predicted_ms" in timings else None,
        }
    return {"load_s": None, "prompt_eval_s": None, "generation_s": None}


def finish_completed(call: LLMCall, *, text: str, end: StreamEnd, recorded: dict[str, Any] | None = None) -> Outcome:
    now = timezone.now()
    recorded = recorded or {}
    first_token_at = recorded.get("first_token_at")
    phases = phase_seconds(end.timings)
    if phases["generation_s"] is None and first_token_at is not None:
        phases["generation_s"] = round((now - first_token_at).total_seconds(), 3)
    fields: dict[str, Any] = {
        **recorded,
        "status": CallStatus.COMPLETED,
        "output": text,
        "finished_at": now,
        "output_tokens": end.output_tokens,
        "done_reason": end.done_reason[:30],
        "timings": end.timings,
        **phases,
    }
    if end.prompt_tokens is not None:
        fields["prompt_tokens"] = end.prompt_tokens
    if end.n_ctx is not None:
        fields["n_ctx"] = end.n_ctx
    with transaction.atomic():
        updated = LLMCall.objects.filter(pk=call.pk, status=CallStatus.RUNNING).update(**fields)
        if updated:
            _send_callback_on_commit(call, final_call_id=call.pk)
    call.refresh_from_db()
    _log_call(call)
    return Outcome(call_id=call.pk, status=call.status)


def next_model(call: LLMCall) -> LLMModel | None:
    """The route's next enabled model after the ones this call's chain already tried."""
    if call.route is None:
        return None
    tried = {call.model_id}
    previous = call.failed_over_from
    while previous is not None:
        tried.add(previous.model_id)
        previous = previous.failed_over_from
    models = call.route.ordered_models()
    position = next((i for i, m in enumerate(models) if m.pk == call.model_id), -1)
    for model in models[position + 1 :]:
        if model.pk not in tried and usable(model, allow_external=call.allow_external) and accepts_calls(model):
            return model
    return None


def retries_so_far(call: LLMCall) -> int:
    """How many times this call's model was already retried in a row before this attempt."""
    count = 0
    previous = call.failed_over_from
    while previous is not None and previous.model_id == call.model_id:
        count += 1
        previous = previous.failed_over_from
    return count


def finish_failed(
    call: LLMCall,
    *,
    kind: str,
    message: str,
    detected_after_s: float,
    partial_output: str = "",
    transient: bool = False,
    recorded: dict[str, Any] | None = None,
) -> Outcome:
    """Record the failure, then retry (transient errors), hand the work to the route's next model,
    or end the chain.

    Safe to call twice (soft limit and hard limit racing): only the first caller finds the call running.
    """
    retry = transient and retries_so_far(call) < settings.LLMOPS_MAX_RETRIES
    fallback = call.model if retry else next_model(call)
    action = HangAction.RETRIED if retry else HangAction.FAILED_OVER if fallback else HangAction.FAILED
    next_call: LLMCall | None = None
    with transaction.atomic():
        updated = LLMCall.objects.filter(pk=call.pk, status=CallStatus.RUNNING).update(
            status=CallStatus.FAILED,
            error_kind=kind[:30],
            error=message[:1000],
            output=partial_output,
            finished_at=timezone.now(),
            **(recorded or {}),
        )
        if not updated:
            return Outcome(call_id=call.pk, status=LLMCall.objects.get(pk=call.pk).status)
        if kind in HANG_KINDS:
            HangEvent.objects.create(
                kind=kind,
                call=call,
                model=call.model,
                host=call.host,
                stage=call.stage,
                detected_after_s=round(detected_after_s, 3),
                action=action,
                detail=message[:300],
            )
        if fallback is not None:
            next_call = LLMCall.objects.create(
                model=fallback,
                host=fallback.host,
                route=call.route,
                stage=call.stage,
                label=call.label,
                attempt=call.attempt + 1,
                failed_over_from=call,
                messages=call.messages,
                max_tokens=min(call.max_tokens, fallback.max_output_tokens),
                temperature=call.temperature,
                json_schema=call.json_schema,
                stop=call.stop,
                callback=call.callback,
                redactor=call.redactor,
                allow_external=call.allow_external,
            )
            backoff = settings.LLMOPS_RETRY_BACKOFF_S * 2 ** retries_so_far(call) if retry else 0.0
            dispatch_on_commit(next_call, countdown=backoff)
        else:
            _send_callback_on_commit(call, final_call_id=call.pk)
    call.refresh_from_db()
    _log_call(call, detected_after_s=detected_after_s, action=action)
    return Outcome(
        call_id=call.pk, status=call.status, error_kind=kind, next_call_id=next_call.pk if next_call else None
    )


def _send_callback_on_commit(call: LLMCall, *, final_call_id: int) -> None:
    if not call.callback:
        return
    callback = Callback(**call.callback)
    kwargs = {**callback.kwargs, "call_id": final_call_id}
    transaction.on_commit(lambda: current_app.send_task(callback.task, kwargs=kwargs))


def _log_call(call: LLMCall, **extra: object) -> None:
    """One JSON line per call: ids, timings and outcome; never the prompt or the answer."""

    def seconds(value: object) -> float | None:
        return round(value.total_seconds(), 3) if hasattr(value, "total_seconds") else None

    logger.info(
        "llm call ended",
        extra={
            "call_id": call.pk,
            "model": call.model.name,
            "host": call.host.name,
            "stage": call.stage,
            "attempt": call.attempt,
            "status": call.status,
            "error_kind": call.error_kind or None,
            "queue_wait_s": seconds(call.queue_wait),
            "first_token_s": seconds(call.time_to_first_token),
            "total_s": seconds(call.duration),
            "prompt_tokens": call.prompt_tokens,
            "output_tokens": call.output_tokens,
            "tokens_per_s": call.tokens_per_second,
            "done_reason": call.done_reason or None,
            **extra,
        },
    )


def handle_hard_limit(call_id: int) -> Outcome | None:
    """The worker killed the call's child at its hard time limit; record it from the parent."""
    call = LLMCall.objects.select_related("model__host", "host", "route").filter(pk=call_id).first()
    if call is None or call.status != CallStatus.RUNNING:
        return None
    started = call.started_at or call.queued_at
    return finish_failed(
        call,
        kind=HangKind.HARD_LIMIT,
        message="the worker child was killed at the task's hard time limit",
        detected_after_s=(timezone.now() - started).total_seconds(),
    )
