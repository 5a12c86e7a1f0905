"""Unloading a model and restarting a host, verified, with escalation when the host does not comply.

A managed llama.cpp host unloads by ending the model's process group (its supervisor verifies and
escalates). Ollama is asked with keep_alive 0, then watched: the model must leave /api/ps, and with
a GPU its memory must come back, within AFFIANT_UNLOAD_DEADLINE_S. If not, the host's configured
restart command runs (e.g. `systemctl restart ollama`) and the escalation is a HangEvent.
These run on the host's own GPU queue, so a restart command runs on the box that needs it.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from llmops.control import control_headers
from llmops.gpu import read_gpus, wait_for_memory_back
from llmops.hangs import record_unload_stuck
from llmops.models import HangAction, Host, HostKind, LLMModel
from llmops.residency import control_url, host_residents

_POLL_S = 0.25


@dataclass(frozen=True)
class UnloadResult:
    unloaded: bool
    detail: str
    seconds: float


def unload_model(model: LLMModel) -> UnloadResult:
    host = model.host
    started = time.monotonic()
    if host.kind == HostKind.LLAMACPP:
        response = httpx.post(
            f"{control_url(host)}/unload", json={"model": model.name}, headers=control_headers(), timeout=60
        )
        response.raise_for_status()
        body = response.json()
        detail = f"process group {body.get('how', 'not resident')}" if body.get("unloaded") else "was not resident"
        return UnloadResult(unloaded=True, detail=detail, seconds=time.monotonic() - started)
    if host.kind != HostKind.OLLAMA:
        return UnloadResult(unloaded=False, detail=f"a {host.get_kind_display()} host has nothing to unload", seconds=0)
    return _unload_ollama(host, model, started)


def _listed(host: Host, model: LLMModel) -> dict[str, object] | None:
    return next((r for r in host_residents(host) if r.get("model") == model.remote_name), None)


def _gone_within(host: Host, model: LLMModel, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if _listed(host, model) is None:
            return True
        time.sleep(_POLL_S)
    return _listed(host, model) is None


def _unload_ollama(host: Host, model: LLMModel, started: float) -> UnloadResult:
    base = host.url.rstrip("/")
    entry = _listed(host, model)
    if entry is None:
        return UnloadResult(unloaded=True, detail="was not resident", seconds=time.monotonic() - started)
    gpus = read_gpus()
    vram = int(entry.get("vram_bytes") or 0)  # type: ignore[call-overload]
    httpx.post(f"{base}/api/generate", json={"model": model.remote_name, "keep_alive": 0}, timeout=30)
    deadline_s = settings.AFFIANT_UNLOAD_DEADLINE_S
    gone = _gone_within(host, model, deadline_s)
    memory_back = True
    if gone and gpus and vram:
        # Ollama may drop a model from /api/ps while its runner still holds the memory.
        target = max(0, gpus[0].used_bytes - vram)
        memory_back = (
            wait_for_memory_back(gpu_index=0, baseline_bytes=target, tolerance_bytes=vram // 20, deadline_s=deadline_s)
            is not None
        )
    if gone and memory_back:
        return UnloadResult(unloaded=True, detail="left /api/ps", seconds=time.monotonic() - started)
    waited = time.monotonic() - started
    why = "still listed in /api/ps" if not gone else "gone from /api/ps but its GPU memory was not freed"
    if not host.restart_command:
        record_unload_stuck(
            host_name=host.name,
            model_name=model.name,
            seconds=waited,
            detail=f"{why} after {waited:.0f}s; no restart command is configured",
            action=HangAction.FAILED,
        )
        return UnloadResult(unloaded=False, detail=f"{why}; no restart command configured", seconds=waited)
    exit_code = run_restart_command(host)
    record_unload_stuck(
        host_name=host.name,
        model_name=model.name,
        seconds=waited,
        detail=f"{why} after {waited:.0f}s; ran the restart command (exit {exit_code})",
    )
    gone = _gone_within(host, model, deadline_s)
    detail = "gone after the host restarted" if gone else "still listed after the host restarted"
    return UnloadResult(unloaded=gone, detail=detail, seconds=time.monotonic() - started)


def run_restart_command(host: Host) -> int:
    """Run the host's restart command on this box; its exit code, or -1 if it could not run in time."""
    try:
        completed = subprocess.run(
            shlex.split(host.restart_command),
            capture_output=True,
            timeout=settings.AFFIANT_RESTART_COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return -1
    return completed.returncode
