"""Making room on an Ollama host before a call loads a model that is not resident.

Ollama loads whatever it is asked for and, short of memory, fails or spills to the CPU (the 3-4x
slowdown of a split model). So before a call for a model that is not loaded, its need is estimated
(weights from /api/tags, KV cache from /api/show's model_info at the call's num_ctx) against the host's
budget (its `memory_budget_mb`, else its GPUs' memory), and the least recently used residents (the
earliest `expires_at` in /api/ps: Ollama pushes it forward on every use) are unloaded with
keep_alive 0 and watched until they leave /api/ps. A model that can never fit is refused.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from llmops.gguf import estimate_bytes
from llmops.gpu import read_gpus
from llmops.providers.base import ModelSpec, ProviderError

_TIMEOUT_S = 5.0
_UNLOAD_WAIT_S = 15.0


def _get(spec: ModelSpec, path: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{spec.host_url.rstrip('/')}{path}", timeout=_TIMEOUT_S).raise_for_status().json()
    return data


def _post(spec: ModelSpec, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{spec.host_url.rstrip('/')}{path}", json=body, timeout=_TIMEOUT_S * 6)
    data: dict[str, Any] = response.raise_for_status().json()
    return data


def budget_bytes(spec: ModelSpec) -> int | None:
    if spec.memory_budget_mb:
        return spec.memory_budget_mb * 2**20
    gpus = read_gpus()
    return sum(g.total_bytes for g in gpus) if gpus else None


def estimate_need(spec: ModelSpec, num_ctx: int) -> int:
    weights = next(
        (
            int(m.get("size") or 0)
            for m in _get(spec, "/api/tags").get("models", [])
            if m.get("name") == spec.remote_name
        ),
        0,
    )
    info = _post(spec, "/api/show", {"model": spec.remote_name}).get("model_info") or {}
    return estimate_bytes(weights_bytes=weights, metadata=info, n_ctx=num_ctx)


def make_room(spec: ModelSpec, num_ctx: int) -> None:
    """Evict least recently used models until this one fits; raise when it cannot fit at all."""
    budget = budget_bytes(spec)
    if budget is None:
        return
    try:
        running = _get(spec, "/api/ps").get("models", [])
        if any(m.get("name") == spec.remote_name for m in running):
            return  # resident already: nothing to load
        need = estimate_need(spec, num_ctx)
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderError(
            f"could not ask {spec.host_name} what is loaded ({type(exc).__name__})", transient=True
        ) from exc
    if need > budget:
        raise ProviderError(
            f"{spec.name} needs about {need // 2**20} MiB at num_ctx {num_ctx}; "
            f"{spec.host_name} has {budget // 2**20} MiB in all",
            kind="oom",
        )
    by_age = sorted(running, key=lambda m: str(m.get("expires_at") or ""))
    used = sum(int(m.get("size_vram") or m.get("size") or 0) for m in running)
    while by_age and used + need > budget:
        victim = by_age.pop(0)
        _post(spec, "/api/generate", {"model": victim["name"], "keep_alive": 0})
        deadline = time.monotonic() + _UNLOAD_WAIT_S
        while any(m.get("name") == victim["name"] for m in _get(spec, "/api/ps").get("models", [])):
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"{victim['name']} did not leave {spec.host_name}'s memory to make room", transient=True
                )
            time.sleep(0.2)
        used -= int(victim.get("size_vram") or victim.get("size") or 0)
