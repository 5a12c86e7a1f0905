"""The GPU worker's heartbeat, through the real worker, supervisor and model."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from llmops.control import control_headers
from llmops.models import WorkerHeartbeat
from tests.conftest import wait_until

pytestmark = pytest.mark.realstack


def test_the_gpu_worker_beats_with_its_gpus_and_its_hosts_residents(realstack: Any, firm_people: Any) -> None:
    resident = httpx.post(
        f"{settings.LLAMACPP_CONTROL_URL}/ensure",
        json={"model": "local-drafter"},
        headers=control_headers(),
        timeout=120,
    )
    pid = resident.json()["pid"]

    def beat_lists_the_model() -> bool:
        beat = WorkerHeartbeat.objects.filter(host__name="local").first()
        return beat is not None and any(r["pid"] == pid for r in beat.residents)

    wait_until(beat_lists_the_model, 30, "a heartbeat listing the resident model")
    beat = WorkerHeartbeat.objects.get(host__name="local")
    assert beat.worker.startswith("test-gpu-local@")
    assert beat.gpus is None  # this box has no GPU: recorded as such, not as an error
    entry = next(r for r in beat.residents if r["pid"] == pid)
    assert entry["model"] == "local-drafter" and entry["n_ctx"] == 8192 and entry["rss_bytes"] > 0

    ops = Client()
    ops.force_login(firm_people["ops"])
    page = ops.get(reverse("llmops:dashboard")).content.decode()
    assert beat.worker in page and "alive" in page and "no GPU" in page
