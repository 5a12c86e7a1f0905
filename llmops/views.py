"""Ops pages: metadata about hosts, models and calls. No case text is ever read here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from config.proxy import client_ip
from llmops.charts import memory_chart
from llmops.circuits import do_reset_circuit
from llmops.control import carries_token
from llmops.metrics import render_metrics
from llmops.models import (
    CallStatus,
    GpuSample,
    HangEvent,
    HangKind,
    Host,
    LLMCall,
    LLMModel,
    ManagedProcess,
    OpsAction,
    ProcessStatus,
    TaskDelivery,
    WorkerHeartbeat,
)
from llmops.queues import queue_depths
from llmops.residency import is_lost
from llmops.stats import model_stats
from llmops.tasks import restart_host_task, unload_model_task

OPS_ROLE = "ops_admin"


def ops_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ops pages exist only for ops admins; everyone else gets a 404, as for anything out of scope."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        membership = getattr(request.user, "membership", None)
        if membership is None or membership.role != OPS_ROLE:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition. Off unless enabled; then only a scraper that sends the token gets in. Settings
    refuse to start with metrics enabled and no token; without one this view still serves nothing."""
    token = settings.AFFIANT_METRICS_TOKEN
    if not (settings.AFFIANT_METRICS_ENABLED or token):
        raise Http404
    if not token or not carries_token(request.headers.get("Authorization", ""), token=token):
        return HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
    return HttpResponse(render_metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")


@ops_only
def dashboard(request: HttpRequest) -> HttpResponse:
    # `only()` keeps the privileged columns (messages, output) out of the query entirely.
    calls = (
        LLMCall.objects.select_related("model", "host")
        .only(
            "id",
            "stage",
            "status",
            "attempt",
            "queued_at",
            "started_at",
            "first_token_at",
            "finished_at",
            "prompt_tokens",
            "output_tokens",
            "done_reason",
            "error_kind",
            "model__name",
            "host__name",
        )
        .order_by("-queued_at", "-id")[:50]
    )
    hosts = list(Host.objects.all().order_by("name"))
    depths = queue_depths(h.queue for h in hosts)
    now = timezone.now()
    heartbeats = [
        {"beat": beat, "lost": is_lost(beat, now), "age_s": (now - beat.at).total_seconds()}
        for beat in WorkerHeartbeat.objects.select_related("host").order_by("host__name", "worker")
    ]
    context = {
        "hosts": [{"host": h, "depth": depths.get(h.queue)} for h in hosts],
        "heartbeats": heartbeats,
        "residents": ManagedProcess.objects.select_related("model", "host").filter(
            status__in=[ProcessStatus.STARTING, ProcessStatus.READY]
        ),
        "recent_processes": ManagedProcess.objects.select_related("model").exclude(
            status__in=[ProcessStatus.STARTING, ProcessStatus.READY]
        )[:10],
        "calls": calls,
        "hangs": HangEvent.objects.select_related("model", "host")[:20],
        "in_flight": LLMCall.objects.filter(status=CallStatus.RUNNING)
        .select_related("model", "host")
        .only("id", "stage", "started_at", "attempt", "model__name", "host__name"),
        "charts": _memory_charts(now, hours=24 if request.GET.get("memory") == "day" else 1),
        "memory_window": "day" if request.GET.get("memory") == "day" else "hour",
        "actions": OpsAction.objects.select_related("actor", "host", "model")[:10],
        "quarantined": TaskDelivery.objects.filter(quarantined_at__isnull=False).order_by("-quarantined_at")[:20],
        "max_deliveries": settings.AFFIANT_TASK_MAX_DELIVERIES,
        "now": now,
    }
    return render(request, "llmops/dashboard.html", context)


def _memory_charts(now: datetime, hours: int = 1) -> list[dict[str, object]]:
    """One chart per GPU that reported in the window, from its samples (one query)."""
    start = now - timedelta(hours=hours)
    series: dict[tuple[str, int], list[tuple[datetime, int]]] = defaultdict(list)
    totals: dict[tuple[str, int], int] = {}
    for host_name, index, at, used, total in (
        GpuSample.objects.filter(at__gte=start)
        .order_by("at")
        .values_list("host__name", "gpu_index", "at", "used_mb", "total_mb")
    ):
        series[(host_name, index)].append((at, used))
        totals[(host_name, index)] = total
    return [
        {
            "host": host_name,
            "gpu": index,
            "total_mb": totals[(host_name, index)],
            "svg": memory_chart(points, total_mb=totals[(host_name, index)], start=start, end=now),
        }
        for (host_name, index), points in sorted(series.items())
    ]


HANG_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "all": None}


@ops_only
def hangs(request: HttpRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "") for key in ("model", "host", "stage", "kind")}
    window = request.GET.get("since", "24h")
    events = HangEvent.objects.select_related("model", "host", "call")
    if filters["model"]:
        events = events.filter(model__name=filters["model"])
    if filters["host"]:
        events = events.filter(host__name=filters["host"])
    if filters["stage"]:
        events = events.filter(stage=filters["stage"])
    if filters["kind"]:
        events = events.filter(kind=filters["kind"])
    if HANG_WINDOWS.get(window) is not None:
        events = events.filter(at__gte=timezone.now() - HANG_WINDOWS[window])  # type: ignore[operator]
    context = {
        "events": events[:200],
        "filters": filters,
        "since": window,
        "windows": list(HANG_WINDOWS),
        "kinds": HangKind.choices,
        "models": LLMModel.objects.order_by("name").values_list("name", flat=True),
        "hosts": Host.objects.order_by("name").values_list("name", flat=True),
        "stages": HangEvent.objects.order_by().values_list("stage", flat=True).distinct(),
    }
    return render(request, "llmops/hangs.html", context)


STATS_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


@ops_only
def model_list(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", "24h")
    if window not in STATS_WINDOWS:
        window = "24h"
    stats = model_stats(timezone.now() - STATS_WINDOWS[window])
    return render(request, "llmops/models.html", {"stats": stats, "window": window, "windows": list(STATS_WINDOWS)})


def _record_action(request: HttpRequest, action: str, *, host: Host, model: LLMModel | None = None) -> OpsAction:
    """The one audit row of an ops action, written when it is asked for; its outcome follows once it ran."""
    return OpsAction.objects.create(
        actor=request.user if request.user.is_authenticated else None,
        action=action,
        host=host,
        model=model,
        ip=client_ip(request),
    )


@ops_only
@require_POST
def model_unload(request: HttpRequest, model_id: int) -> HttpResponse:
    model = get_object_or_404(LLMModel.objects.select_related("host"), pk=model_id)
    action = _record_action(request, "unload", host=model.host, model=model)
    # On the host's own queue: the unload (and any restart command) runs on the box that holds the model.
    transaction.on_commit(lambda: unload_model_task.apply_async(args=(model.pk, action.pk), queue=model.host.queue))
    messages.success(request, f"Unloading {model.name} on {model.host.name}; the result appears below.")
    return redirect("llmops:dashboard")


@ops_only
@require_POST
def model_reset_circuit(request: HttpRequest, model_id: int) -> HttpResponse:
    model = get_object_or_404(LLMModel.objects.select_related("host"), pk=model_id)
    action = _record_action(request, "reset_circuit", host=model.host, model=model)
    do_reset_circuit(model)
    OpsAction.objects.record_outcome(action.pk, "circuit closed")
    messages.success(request, f"The circuit of {model.name} is closed again.")
    return redirect("llmops:model_list")


@ops_only
@require_POST
def host_restart(request: HttpRequest, host_id: int) -> HttpResponse:
    host = get_object_or_404(Host, pk=host_id)
    if not host.restart_command:
        messages.error(request, f"{host.name} has no restart command configured.")
        return redirect("llmops:dashboard")
    action = _record_action(request, "restart", host=host)
    transaction.on_commit(lambda: restart_host_task.apply_async(args=(host.pk, action.pk), queue=host.queue))
    messages.success(request, f"Restarting {host.name}.")
    return redirect("llmops:dashboard")
