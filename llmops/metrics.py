"""Prometheus metrics, computed from the database at scrape time.

Workers are separate processes that come and go; the call and hang rows are the one record they all
share, so the metrics are aggregates over those rows rather than in-process counters. Labels carry
model, host, stage and kind names only: never case text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum

from llmops.circuits import CircuitState, circuit_for
from llmops.models import CallStatus, HangEvent, LLMCall, LLMModel

DURATION_BUCKETS_S = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
FIRST_TOKEN_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
_CIRCUIT_VALUE = {CircuitState.OPEN: 1.0, CircuitState.HALF_OPEN: 0.5}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{_escape(str(value))}"' for key, value in labels.items()) + "}"


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def _histogram(name: str, help_text: str, field: str, buckets: tuple[float, ...], start: str) -> list[str]:
    elapsed = ExpressionWrapper(F(field) - F(start), output_field=DurationField())
    aggregates = {f"le_{i}": Count("id", filter=Q(elapsed__lte=timedelta(seconds=b))) for i, b in enumerate(buckets)}
    rows = (
        LLMCall.objects.filter(**{f"{field}__isnull": False, f"{start}__isnull": False})
        .annotate(elapsed=elapsed)
        .values("model__name")
        .annotate(count=Count("id"), total=Sum("elapsed"), **aggregates)
        .order_by("model__name")
    )
    samples = []
    for typed_row in rows:
        row: dict[str, Any] = dict(typed_row)  # the bucket keys are built at run time
        model = row["model__name"]
        for i, bound in enumerate(buckets):
            samples.append(f"{name}_bucket{_labels(model=model, le=str(bound))} {row[f'le_{i}']}")
        samples.append(f"{name}_bucket{_labels(model=model, le='+Inf')} {row['count']}")
        total = row["total"].total_seconds() if row["total"] is not None else 0.0
        samples.append(f"{name}_sum{_labels(model=model)} {total:.3f}")
        samples.append(f"{name}_count{_labels(model=model)} {row['count']}")
    return _family(name, "histogram", help_text, samples)


def render_metrics() -> str:
    lines: list[str] = []
    calls = (
        LLMCall.objects.values("model__name", "host__name", "stage", "status")
        .annotate(n=Count("id"))
        .order_by("model__name", "stage", "status")
    )
    lines += _family(
        "affiant_llm_calls_total",
        "counter",
        "LLM calls by model, host, stage and status (queued and running included).",
        (
            f"affiant_llm_calls_total{_labels(model=r['model__name'], host=r['host__name'], stage=r['stage'], status=r['status'])} {r['n']}"  # noqa: E501
            for r in calls
        ),
    )
    in_flight = LLMCall.objects.filter(status=CallStatus.RUNNING).values("model__name").annotate(n=Count("id"))
    lines += _family(
        "affiant_llm_calls_in_flight",
        "gauge",
        "Calls running now.",
        (f"affiant_llm_calls_in_flight{_labels(model=r['model__name'])} {r['n']}" for r in in_flight),
    )
    lines += _histogram(
        "affiant_llm_call_seconds", "Call duration from start to end.", "finished_at", DURATION_BUCKETS_S, "started_at"
    )
    lines += _histogram(
        "affiant_llm_time_to_first_token_seconds",
        "Time from start to the first token (loading included).",
        "first_token_at",
        FIRST_TOKEN_BUCKETS_S,
        "started_at",
    )
    tokens = LLMCall.objects.values("model__name").annotate(n=Sum("output_tokens")).order_by("model__name")
    lines += _family(
        "affiant_llm_output_tokens_total",
        "counter",
        "Tokens generated.",
        (f"affiant_llm_output_tokens_total{_labels(model=r['model__name'])} {r['n'] or 0}" for r in tokens),
    )
    hangs = HangEvent.objects.values("kind", "model__name", "action").annotate(n=Count("id")).order_by("kind")
    lines += _family(
        "affiant_llm_hangs_total",
        "counter",
        "Hangs and failures by kind, model and the action taken.",
        (
            f"affiant_llm_hangs_total{_labels(kind=r['kind'], model=r['model__name'] or '', action=r['action'])} "
            f"{r['n']}"
            for r in hangs
        ),
    )
    failovers: dict[str, int] = defaultdict(int)
    for row in (
        LLMCall.objects.filter(failed_over_from__isnull=False)
        .exclude(model=F("failed_over_from__model"))
        .values("failed_over_from__model__name")
        .annotate(n=Count("id"))
    ):
        failovers[row["failed_over_from__model__name"]] += row["n"]
    lines += _family(
        "affiant_llm_failovers_total",
        "counter",
        "Calls handed from this model to the next one of their route.",
        (f"affiant_llm_failovers_total{_labels(model=m)} {n}" for m, n in sorted(failovers.items())),
    )
    lines += _family(
        "affiant_llm_circuit_open",
        "gauge",
        "1 when the model's circuit is open, 0.5 half-open, 0 closed.",
        (
            f"affiant_llm_circuit_open{_labels(model=m.name)} {_CIRCUIT_VALUE.get(circuit_for(m).state, 0)}"
            for m in LLMModel.objects.order_by("name")
        ),
    )
    return "\n".join(lines) + "\n"
