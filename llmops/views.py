"""Ops pages: metadata about hosts, models and calls. No case text is ever read here."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from llmops.metrics import render_metrics
from llmops.models import HangEvent, Host, LLMCall, ManagedProcess, ProcessStatus, WorkerHeartbeat
from llmops.queues import queue_depths
from llmops.residency import is_lost

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
    """Prometheus exposition. Off unless enabled; with a token set, only a scraper that sends it gets in."""
    token = settings.AFFIANT_METRICS_TOKEN
    if not (settings.AFFIANT_METRICS_ENABLED or token):
        raise Http404
    if token and not constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}"):
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
    }
    return render(request, "llmops/dashboard.html", context)
