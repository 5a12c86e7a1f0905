"""What each host has loaded, and the GPU worker's heartbeat that records it with its GPUs' memory.

A GPU worker beats every AFFIANT_HEARTBEAT_S from its main process (a Celery child may be stuck in a
call, or killed at a hard time limit; the beat must go on): NVML readings of its box's GPUs, or "no
GPU", and the host's own account of what is resident (the managed supervisor's processes, Ollama's
/api/ps, an OpenAI-compatible server's /v1/models).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

from config.periodic import Periodic
from llmops.control import control_headers
from llmops.gpu import read_gpus
from llmops.models import GpuSample, Host, HostKind, WorkerHeartbeat

logger = logging.getLogger("llmops.residency")

_TIMEOUT_S = 3.0


def control_url(host: Host) -> str:
    return (host.url or settings.LLAMACPP_CONTROL_URL).rstrip("/")


def host_residents(host: Host) -> list[dict[str, Any]]:
    """The host's own list of loaded models. Raises httpx.HTTPError when it cannot be asked."""
    if host.kind == HostKind.LLAMACPP:
        response = httpx.get(f"{control_url(host)}/status", headers=control_headers(), timeout=_TIMEOUT_S)
        status = response.raise_for_status().json()
        return [
            {"model": r["model"], "pid": r["pid"], "n_ctx": r["n_ctx"], "rss_bytes": r["rss_bytes"], "port": r["port"]}
            for r in status.get("residents", [])
        ]
    if host.kind == HostKind.OLLAMA:
        ps = httpx.get(f"{host.url.rstrip('/')}/api/ps", timeout=_TIMEOUT_S).raise_for_status().json()
        return [
            {
                "model": m.get("name") or m.get("model"),
                "size_bytes": m.get("size"),
                "vram_bytes": m.get("size_vram"),
                "n_ctx": m.get("context_length"),
                "expires_at": m.get("expires_at"),
            }
            for m in ps.get("models", [])
        ]
    if host.kind == HostKind.OPENAI and not host.external:
        url = host.url.rstrip("/").removesuffix("/v1")
        listing = httpx.get(f"{url}/v1/models", timeout=_TIMEOUT_S).raise_for_status().json()
        return [{"model": m.get("id")} for m in listing.get("data", [])]
    return []  # API providers: nothing of ours is resident there


def beat(*, host_name: str, worker: str, started_at: datetime) -> WorkerHeartbeat | None:
    """Record one heartbeat of a GPU worker: its GPUs now and what its host has resident."""
    host = Host.objects.filter(name=host_name).first()
    if host is None:
        return None
    now = timezone.now()
    gpus = read_gpus()
    error = ""
    try:
        residents = host_residents(host)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        residents, error = [], f"the host could not be asked ({type(exc).__name__})"
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        host=host,
        worker=worker,
        defaults={
            "pid": os.getpid(),
            "at": now,
            "started_at": started_at,
            "gpus": [asdict(g) for g in gpus] if gpus is not None else None,
            "residents": residents,
            "residency_error": error,
        },
    )
    if gpus:
        GpuSample.objects.bulk_create(
            GpuSample(
                host=host,
                gpu_index=g.index,
                at=now,
                used_mb=g.used_bytes // 2**20,
                total_mb=g.total_bytes // 2**20,
                utilization_pct=g.utilization_pct,
            )
            for g in gpus
        )
        GpuSample.objects.filter(
            host=host, at__lt=now - timedelta(hours=settings.AFFIANT_GPU_SAMPLE_RETENTION_H)
        ).delete()
    return heartbeat


def is_lost(heartbeat: WorkerHeartbeat, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return (now - heartbeat.at).total_seconds() > settings.AFFIANT_HEARTBEAT_LOST_S


def start_heartbeat(*, host_name: str, worker: str) -> Periodic:
    """Beat now, then every AFFIANT_HEARTBEAT_S, from the GPU worker's main process."""
    started_at = timezone.now()
    return Periodic(
        name=f"heartbeat-{host_name}",
        work=functools.partial(beat, host_name=host_name, worker=worker, started_at=started_at),
        interval_s=lambda: settings.AFFIANT_HEARTBEAT_S,
        run_first=True,
    ).start()
