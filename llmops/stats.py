"""Per-model figures over a window for the ops pages: a bounded number of queries, whatever the rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F

from llmops.circuits import circuit_for
from llmops.models import CallStatus, HangEvent, HangKind, LLMCall, LLMModel


@dataclass(frozen=True)
class ModelStats:
    model: LLMModel
    calls: int
    completed: int
    failed: int
    refused: int  # answers that were a refusal, not a result (see llmops.refusals)
    p50_s: float | None
    p95_s: float | None
    ttft_p50_s: float | None
    tokens_per_s: float | None
    hangs: int
    hang_rate_pct: float | None
    failovers: int
    circuit: str


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def model_stats(since: datetime) -> list[ModelStats]:
    durations: dict[int, list[float]] = defaultdict(list)
    ttfts: dict[int, list[float]] = defaultdict(list)
    tokens: dict[int, int] = defaultdict(int)
    generating: dict[int, float] = defaultdict(float)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    refused: dict[int, int] = defaultdict(int)
    # One pass over the window's calls: only the columns the figures need, never the text.
    rows = LLMCall.objects.filter(queued_at__gte=since).values_list(
        "model_id", "status", "error_kind", "started_at", "first_token_at", "finished_at", "output_tokens"
    )
    for model_id, status, error_kind, started, first_token, finished, output_tokens in rows.iterator(chunk_size=5000):
        counts[model_id][status] += 1
        if error_kind == HangKind.REFUSED:
            refused[model_id] += 1
        if started and finished:
            durations[model_id].append((finished - started).total_seconds())
        if started and first_token:
            ttfts[model_id].append((first_token - started).total_seconds())
        if first_token and finished and output_tokens:
            tokens[model_id] += output_tokens
            generating[model_id] += (finished - first_token).total_seconds()
    hangs = dict(
        HangEvent.objects.filter(at__gte=since, call__isnull=False)
        .values_list("model_id")
        .annotate(n=Count("id"))
        .values_list("model_id", "n")
    )
    failovers = dict(
        LLMCall.objects.filter(queued_at__gte=since, failed_over_from__isnull=False)
        .exclude(model=F("failed_over_from__model"))
        .values_list("failed_over_from__model_id")
        .annotate(n=Count("id"))
        .values_list("failed_over_from__model_id", "n")
    )
    result = []
    for model in LLMModel.objects.select_related("host").order_by("name"):
        calls = sum(counts[model.pk].values())
        result.append(
            ModelStats(
                model=model,
                calls=calls,
                completed=counts[model.pk][CallStatus.COMPLETED],
                failed=counts[model.pk][CallStatus.FAILED],
                refused=refused[model.pk],
                p50_s=percentile(durations[model.pk], 0.5),
                p95_s=percentile(durations[model.pk], 0.95),
                ttft_p50_s=percentile(ttfts[model.pk], 0.5),
                tokens_per_s=round(tokens[model.pk] / generating[model.pk], 1) if generating[model.pk] else None,
                hangs=hangs.get(model.pk, 0),
                hang_rate_pct=round(100 * hangs.get(model.pk, 0) / calls, 1) if calls else None,
                failovers=failovers.get(model.pk, 0),
                circuit=circuit_for(model).state,
            )
        )
    return result
