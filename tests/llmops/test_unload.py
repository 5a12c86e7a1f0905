"""Unloading from an Ollama host, verified against its /api/ps, with escalation when it will not go."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from llmops.models import HangEvent, Host, LLMModel
from llmops.unload import unload_model
from tests.faultserver import FaultServer

pytestmark = pytest.mark.django_db


def _model(server: FaultServer, remote: str, restart_command: str = "") -> LLMModel:
    host = Host.objects.create(name="ollama-box", kind="ollama", url=server.url, restart_command=restart_command)
    model = LLMModel.objects.create(
        name=f"ollama-{remote}", host=host, remote_name=remote, context_length=4096, max_output_tokens=64,
        first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
    )  # fmt: skip
    # Ollama loads a model on an empty chat request.
    httpx.post(f"{server.url}/api/chat", json={"model": remote, "messages": []}, timeout=5)
    return model


def _listed(server: FaultServer) -> list[str]:
    return [m["name"] for m in httpx.get(f"{server.url}/api/ps", timeout=5).json()["models"]]


def test_an_ollama_model_is_unloaded_and_seen_gone_from_api_ps(fault_server: FaultServer, settings: Any) -> None:
    settings.AFFIANT_UNLOAD_DEADLINE_S = 2
    model = _model(fault_server, "drafter")
    assert "drafter" in _listed(fault_server)
    result = unload_model(model)
    assert result.unloaded and result.detail == "left /api/ps"
    assert "drafter" not in _listed(fault_server)
    assert fault_server.requests_to("/api/generate")[-1].body == {"model": "drafter", "keep_alive": 0}
    assert not HangEvent.objects.exists()


def test_a_model_that_stays_in_api_ps_is_escalated_to_the_restart_command(
    fault_server: FaultServer, settings: Any
) -> None:
    settings.AFFIANT_UNLOAD_DEADLINE_S = 0.5
    model = _model(fault_server, "stuck", restart_command="true")
    fault_server.pinned_ps.add("stuck")  # Ollama keeps reporting it, as it sometimes does after keep_alive 0
    result = unload_model(model)
    assert not result.unloaded and result.detail == "still listed after the host restarted"
    event = HangEvent.objects.get()
    assert (event.kind, event.action, event.stage) == ("unload_stuck", "escalated", "unload")
    assert event.detected_after_s >= 0.5 and "ran the restart command (exit 0)" in event.detail


def test_without_a_restart_command_a_stuck_unload_is_recorded_as_failed(
    fault_server: FaultServer, settings: Any
) -> None:
    settings.AFFIANT_UNLOAD_DEADLINE_S = 0.3
    model = _model(fault_server, "stuck")
    fault_server.pinned_ps.add("stuck")
    result = unload_model(model)
    assert not result.unloaded and "no restart command" in result.detail
    assert HangEvent.objects.get().action == "failed"
