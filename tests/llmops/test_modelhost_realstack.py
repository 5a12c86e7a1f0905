"""The managed llama.cpp host: model processes in their own groups, owned by the supervisor."""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx
import pytest
from django.conf import settings

from llmops.control import control_headers
from llmops.modelhost import live_group_members
from llmops.models import ManagedProcess, ProcessStatus
from tests.conftest import wait_until

pytestmark = pytest.mark.realstack


def _post(path: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{settings.LLAMACPP_CONTROL_URL}{path}", json=body, headers=control_headers(), timeout=120)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def _fresh(model: str) -> dict[str, Any]:
    """Load `model` in a new process: an earlier test's run may have left it resident, and its record
    went with that test's database flush."""
    _post("/unload", model=model)
    return _post("/ensure", model=model)


def test_a_model_runs_in_its_own_process_group_and_unloads_by_ending_it(realstack: Any) -> None:
    resident = _fresh("local-drafter-small-ctx")
    pid = resident["pid"]
    assert resident["n_ctx"] == 4096
    assert resident["chat_template"] == ""  # Gemma 270M is a base model: its callers send plain text
    assert os.getpgid(pid) == pid  # its own group, so ending the group ends all of it
    assert os.getpgid(pid) != os.getpgid(os.getpid())
    assert _post("/ensure", model="local-drafter-small-ctx")["pid"] == pid  # reused, not duplicated
    record = ManagedProcess.objects.get(pid=pid)
    assert record.status == ProcessStatus.READY and record.rss_bytes > 50 * 1024 * 1024

    unloaded = _post("/unload", model="local-drafter-small-ctx")
    assert unloaded["unloaded"] is True
    assert live_group_members(pid) == []
    record.refresh_from_db()
    assert record.status == ProcessStatus.STOPPED and record.stopped_at is not None


def test_a_model_process_killed_from_outside_is_noticed_and_reloaded(realstack: Any) -> None:
    pid = _fresh("local-drafter-small-ctx")["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: ManagedProcess.objects.get(pid=pid).status == ProcessStatus.DIED, 20, "the sweep to notice")
    again = _post("/ensure", model="local-drafter-small-ctx")
    assert again["pid"] != pid
    assert httpx.get(f"http://127.0.0.1:{again['port']}/v1/models", timeout=5).status_code == 200
    _post("/unload", model="local-drafter-small-ctx")


def test_an_unknown_model_is_refused_with_a_reason(realstack: Any) -> None:
    response = httpx.post(
        f"{settings.LLAMACPP_CONTROL_URL}/ensure", json={"model": "nope"}, headers=control_headers(), timeout=10
    )
    assert response.status_code == 400
    assert "not served by host local" in response.json()["error"]


def test_loading_a_model_that_does_not_fit_evicts_the_least_recently_used_one(realstack: Any) -> None:
    from llmops.models import Host

    # local-drafter needs about 410 MiB at n_ctx 8192, local-drafter-small-ctx about 338 MiB at 4096.
    for name in ("local-drafter", "local-drafter-small-ctx"):  # start from nothing resident
        _post("/unload", model=name)
    Host.objects.filter(name="local").update(memory_budget_mb=600)
    first = _post("/ensure", model="local-drafter")
    assert 400 * 2**20 < first["need_bytes"] < 420 * 2**20
    second = _post("/ensure", model="local-drafter-small-ctx")
    assert live_group_members(first["pid"]) == []  # evicted to make room
    record = ManagedProcess.objects.get(pid=first["pid"])
    assert record.status == ProcessStatus.STOPPED and "evicted to make room" in record.stop_reason
    status = httpx.get(f"{settings.LLAMACPP_CONTROL_URL}/status", headers=control_headers(), timeout=5).json()
    assert [r["model"] for r in status["residents"]] == ["local-drafter-small-ctx"]
    assert status["residents"][0]["pid"] == second["pid"]

    Host.objects.filter(name="local").update(memory_budget_mb=300)
    response = httpx.post(
        f"{settings.LLAMACPP_CONTROL_URL}/ensure",
        json={"model": "local-drafter"},
        headers=control_headers(),
        timeout=30,
    )
    assert response.status_code == 400
    assert "needs about 409 MiB" in response.json()["error"] and "300 MiB in all" in response.json()["error"]
    _post("/unload", model="local-drafter-small-ctx")


def test_after_a_model_process_is_killed_the_next_call_reloads_it_and_completes(realstack: Any) -> None:
    from llmops.calls import dispatch_locally, request_completion
    from llmops.models import Route
    from llmops.providers.base import Message
    from llmops.runner import drain

    def call() -> Any:
        with dispatch_locally() as pending:
            request_completion(
                route="draft", messages=[Message(role="user", content="The statement was")], stage="t", max_tokens=4
            )
            return drain(pending)

    drafter = Route.objects.get(name="draft").ordered_models()[0].name
    first = call()
    assert first is not None and first.status == "completed" and first.model.name == drafter, first.error
    resident = httpx.post(
        f"{settings.LLAMACPP_CONTROL_URL}/ensure", json={"model": drafter}, headers=control_headers(), timeout=60
    ).json()
    assert "<|im_start|>assistant" in resident["chat_template"]  # the tests' drafter is an instruct model
    pid = resident["pid"]
    os.killpg(pid, signal.SIGKILL)

    def supervisor_noticed() -> bool:
        status = httpx.get(f"{settings.LLAMACPP_CONTROL_URL}/status", headers=control_headers(), timeout=5).json()
        return pid not in [r["pid"] for r in status["residents"]]

    wait_until(supervisor_noticed, 20, "the supervisor to notice")
    second = call()  # this process's provider still remembers the dead port: it must find the new one
    assert second is not None and (second.status, second.model.name) == ("completed", drafter), second.error
    assert second.timings["pid"] != pid
