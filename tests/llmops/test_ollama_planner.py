"""Making room on an Ollama host before a load: least recently used first, refusal when it never fits."""

from __future__ import annotations

import time

import httpx
import pytest

from llmops.providers.base import CancelToken, CompletionRequest, Delta, Message, ModelSpec, ProviderError
from llmops.providers.ollama import OllamaProvider
from tests.faultserver import MODEL_SIZE_BYTES, Fault, FaultServer


def _spec(server: FaultServer, remote: str, budget_mb: int | None) -> ModelSpec:
    return ModelSpec(
        name=f"ollama-{remote}", host_name="box", host_kind="ollama", host_url=server.url, remote_name=remote,
        context_length=4096, max_output_tokens=16, first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=20,
        memory_budget_mb=budget_mb,
    )  # fmt: skip


def _complete(server: FaultServer, remote: str, budget_mb: int | None) -> str:
    server.set_fault(remote, Fault())  # known to the host (pulled), as /api/tags lists it
    request = CompletionRequest(messages=(Message(role="user", content="Say one thing."),), max_tokens=8)
    items = OllamaProvider().stream(_spec(server, remote, budget_mb), request, CancelToken())
    return "".join(item.text for item in items if isinstance(item, Delta))


def _loaded(server: FaultServer) -> list[str]:
    return [m["name"] for m in httpx.get(f"{server.url}/api/ps", timeout=5).json()["models"]]


def test_loading_a_model_that_does_not_fit_unloads_the_least_recently_used_first(fault_server: FaultServer) -> None:
    budget_mb = (3 * MODEL_SIZE_BYTES) // 2**20  # two resident models plus a third's need do not fit
    _complete(fault_server, "first", budget_mb)
    time.sleep(0.01)
    _complete(fault_server, "second", budget_mb)
    assert sorted(_loaded(fault_server)) == ["first", "second"]
    assert _complete(fault_server, "third", budget_mb)
    assert sorted(_loaded(fault_server)) == ["second", "third"]
    unloads = [r.body for r in fault_server.requests_to("/api/generate") if r.body.get("keep_alive") == 0]
    assert unloads == [{"model": "first", "keep_alive": 0}]


def test_a_resident_model_is_used_without_evicting_anything(fault_server: FaultServer) -> None:
    budget_mb = (2 * MODEL_SIZE_BYTES) // 2**20
    _complete(fault_server, "only", budget_mb)
    _complete(fault_server, "only", budget_mb)
    assert not [r for r in fault_server.requests_to("/api/generate") if r.body.get("keep_alive") == 0]


def test_a_model_larger_than_the_whole_budget_is_refused_before_loading(fault_server: FaultServer) -> None:
    with pytest.raises(ProviderError, match="needs about") as refused:
        _complete(fault_server, "huge", budget_mb=500)
    assert refused.value.kind == "oom"
    assert not fault_server.requests_to("/api/chat")
