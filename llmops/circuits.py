"""Circuit breakers per model, derived from the calls themselves (the database is the truth).

A model's circuit opens after LLMOPS_CIRCUIT_FAILURES failed calls within LLMOPS_CIRCUIT_WINDOW_S with
no success since; while open, routes skip the model. After LLMOPS_CIRCUIT_COOLDOWN_S since the last
failure it half-opens: one probe call may go to it, and its outcome closes or reopens the circuit.
An ops admin's reset forgets the failures before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from llmops.models import CallStatus, LLMCall, LLMModel

# A call that failed because of its own prompt, or was never sent (no redactor, no consent), says nothing
# about the model's health.
_NOT_THE_MODELS_FAULT = ("context_overflow", "no_redactor", "no_consent")


class CircuitState:
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Circuit:
    state: str
    recent_failures: int


def circuit_for(model: LLMModel) -> Circuit:
    now = timezone.now()
    since = now - timedelta(seconds=settings.LLMOPS_CIRCUIT_WINDOW_S)
    if model.circuit_reset_at and model.circuit_reset_at > since:
        since = model.circuit_reset_at
    calls = LLMCall.objects.filter(model=model, finished_at__gte=since)
    last_success = calls.filter(status=CallStatus.COMPLETED).aggregate(at=Max("finished_at"))["at"]
    failures = calls.filter(status=CallStatus.FAILED).exclude(error_kind__in=_NOT_THE_MODELS_FAULT)
    if last_success is not None:
        failures = failures.filter(finished_at__gt=last_success)
    failure_stats = failures.aggregate(last=Max("finished_at"))
    count = failures.count()
    if count < settings.LLMOPS_CIRCUIT_FAILURES:
        return Circuit(CircuitState.CLOSED, count)
    if now - failure_stats["last"] < timedelta(seconds=settings.LLMOPS_CIRCUIT_COOLDOWN_S):
        return Circuit(CircuitState.OPEN, count)
    return Circuit(CircuitState.HALF_OPEN, count)


def accepts_calls(model: LLMModel) -> bool:
    """Closed, or half-open with no probe already under way."""
    circuit = circuit_for(model)
    if circuit.state == CircuitState.CLOSED:
        return True
    if circuit.state == CircuitState.OPEN:
        return False
    return not LLMCall.objects.unfinished().filter(model=model).exists()


def do_reset_circuit(model: LLMModel) -> None:
    LLMModel.objects.filter(pk=model.pk).update(circuit_reset_at=timezone.now())
