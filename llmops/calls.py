"""Asking for a completion: create the call's record and put it on its host's queue.

This is llmops' public entry point for callers. A caller hands in messages, a route and, if it
wants to hear back, a callback task; it never waits on the call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from llmops.circuits import accepts_calls
from llmops.egress import is_external
from llmops.models import Host, LLMCall, LLMModel, Route
from llmops.providers.base import CompletionRequest, Message, ModelSpec


class NoModelAvailable(Exception):
    """The route names no enabled model."""


@dataclass(frozen=True)
class RedactorRef:
    """Where a worker finds the redactor for this call's text: `module:function` called with kwargs."""

    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Callback:
    """A task sent by name when a call ends for good (after any failover), with `call_id` added."""

    task: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def spec_for(model: LLMModel) -> ModelSpec:
    host = model.host
    url = host.url or (settings.LLAMACPP_CONTROL_URL if host.kind == "llamacpp" else "")
    return ModelSpec(
        name=model.name,
        host_name=host.name,
        host_kind=host.kind,
        host_url=url,
        remote_name=model.remote_name,
        context_length=model.context_length,
        max_output_tokens=model.max_output_tokens,
        first_token_timeout_s=model.first_token_timeout_s,
        stall_timeout_s=model.stall_timeout_s,
        total_timeout_s=model.total_timeout_s,
        keep_alive=model.keep_alive,
        gguf=model.gguf,
        external=is_external(host),
        api_key_env=host.api_key_env,
        headers=tuple(sorted((str(k), str(v)) for k, v in (host.headers or {}).items())),
        region=host.region,
        memory_budget_mb=host.memory_budget_mb,
    )


def messages_of(call: LLMCall) -> list[Message]:
    """The messages a call was asked with, as the caller gave them (evidence not yet fitted)."""
    return [
        Message(role=m["role"], content=m["content"], evidence=tuple(m.get("evidence") or ())) for m in call.messages
    ]


def request_for(call: LLMCall) -> CompletionRequest:
    return CompletionRequest(
        messages=tuple(messages_of(call)),
        max_tokens=call.max_tokens,
        temperature=call.temperature,
        json_schema=call.json_schema,
        stop=tuple(call.stop),
        seed=call.pk,
    )


def usable(model: LLMModel, *, allow_external: bool) -> bool:
    """Enabled, on an enabled host, and inside the firm unless the caller allows otherwise."""
    return model.enabled and model.host.enabled and (allow_external or not is_external(model.host))


def first_available_model(route: Route, *, allow_external: bool = False) -> LLMModel:
    """The first usable model of the route whose circuit accepts calls."""
    open_circuits = []
    for model in route.ordered_models():
        if not usable(model, allow_external=allow_external):
            continue
        if accepts_calls(model):
            return model
        open_circuits.append(model.name)
    if open_circuits:
        raise NoModelAvailable(f"route {route.name!r}: every model's circuit is open ({', '.join(open_circuits)})")
    where = "" if allow_external else " inside the firm (the case has no consent to external models)"
    raise NoModelAvailable(f"route {route.name!r} has no enabled model{where}")


def request_completion(
    *,
    route: str,
    messages: Sequence[Message],
    stage: str,
    label: str = "",
    max_tokens: int | None = None,
    temperature: float = 0.2,
    json_schema: dict[str, Any] | None = None,
    stop: Sequence[str] = (),
    callback: Callback | None = None,
    redactor: RedactorRef | None = None,
    allow_external: bool = False,
) -> LLMCall:
    """Record a call on the route's first available model and queue it once the transaction commits.

    Models on `external` hosts are used only with `allow_external` (the client's consent) and get only
    text that `redactor` has cleaned.
    """
    route_obj = Route.objects.get(name=route)
    model = first_available_model(route_obj, allow_external=allow_external)
    call = LLMCall.objects.create(
        model=model,
        host=model.host,
        route=route_obj,
        stage=stage,
        label=label[:200],
        messages=[{"role": m.role, "content": m.content, "evidence": list(m.evidence)} for m in messages],
        max_tokens=min(max_tokens or model.max_output_tokens, model.max_output_tokens),
        temperature=temperature,
        json_schema=json_schema,
        stop=list(stop),
        callback=asdict(callback) if callback else None,
        redactor=asdict(redactor) if redactor else None,
        allow_external=allow_external,
    )
    dispatch_on_commit(call)
    return call


def time_limits(model: LLMModel) -> tuple[int, int]:
    """Celery's soft and hard limits, a margin past the model's own total deadline."""
    return limits_for(model.total_timeout_s)


def limits_for(total_timeout_s: float) -> tuple[int, int]:
    """`time_limits` for a model's total deadline (the catalog checks a model's before it has a row)."""
    total = int(total_timeout_s)
    return total + settings.LLMOPS_SOFT_LIMIT_MARGIN_S, total + settings.LLMOPS_HARD_LIMIT_MARGIN_S


# Set inside `dispatch_locally()`: calls are collected here for the caller to run, not sent to Celery.
_local_dispatch: ContextVar[list[tuple[int, float]] | None] = ContextVar("local_dispatch", default=None)


@contextmanager
def dispatch_locally() -> Iterator[list[tuple[int, float]]]:
    """Within this block, calls (first attempts, retries, failovers) are not queued: their ids and
    backoffs are collected in the yielded list, for an in-process runner to take in order."""
    pending: list[tuple[int, float]] = []
    token = _local_dispatch.set(pending)
    try:
        yield pending
    finally:
        _local_dispatch.reset(token)


def dispatch_on_commit(call: LLMCall, countdown: float = 0.0) -> None:
    """Queue the call on its host's queue once the transaction that created it commits."""
    call_id, queue = call.pk, call.host.queue
    local = _local_dispatch.get()
    if local is not None:
        transaction.on_commit(lambda: local.append((call_id, countdown)))
        return
    if countdown:
        LLMCall.objects.filter(pk=call_id).update(not_before=timezone.now() + timedelta(seconds=countdown))
    if call.host.dispatch == "grouped":
        # The message names the host, not the call: the worker picks which waiting call to run when it
        # gets there (see llmops.dispatch), so calls for a resident model need not wait behind a swap.
        host_id = call.host_id
        soft, hard = host_time_limits(call.host)

        def send_token() -> None:
            from llmops.tasks import run_next_call_task

            run_next_call_task.apply_async(
                args=(host_id,), queue=queue, soft_time_limit=soft, time_limit=hard, countdown=countdown
            )

        transaction.on_commit(send_token)
        return
    soft, hard = time_limits(call.model)

    def send() -> None:
        from llmops.tasks import run_llm_call_task

        run_llm_call_task.apply_async(
            args=(call_id,), queue=queue, soft_time_limit=soft, time_limit=hard, countdown=countdown
        )

    transaction.on_commit(send)


def host_time_limits(host: Host) -> tuple[int, int]:
    """The limits for a call not yet chosen: those of the host's slowest model."""
    slowest = LLMModel.objects.filter(host=host).order_by("-total_timeout_s").first()
    if slowest is None:
        raise NoModelAvailable(f"host {host.name} has no model")
    return time_limits(slowest)


def last_attempt(first_id: int) -> LLMCall:
    """The latest attempt of a call's chain (retries and failovers), as the database has it now.

    A failed attempt and the attempt that follows it are written in one transaction, so a chain whose
    last attempt has ended is over.
    """
    call = LLMCall.objects.select_related("model").get(pk=first_id)
    while (following := LLMCall.objects.select_related("model").filter(failed_over_from=call).first()) is not None:
        call = following
    return call
