"""Faults through the real Celery workers, and a real llama.cpp stream frozen mid-way."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from django.conf import settings

from llmops.calls import dispatch_locally, last_attempt, request_completion
from llmops.control import control_headers
from llmops.models import CallStatus, HangEvent, Host, LLMCall, LLMModel, Route, RouteEntry
from llmops.providers.base import Message
from llmops.runner import drain
from tests.conftest import wait_until
from tests.faultserver import Fault, FaultServer
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.realstack

FAULTS = {
    "no-first-token": Fault("no_first_token"),
    "stall": Fault("stall_after", tokens_before=3),
    "loop": Fault("loop"),
    "http-500": Fault("http_500"),
    "drop": Fault("drop", tokens_before=3),
}


def _model(host: Host, name: str, remote_name: str, **deadlines: float) -> LLMModel:
    return LLMModel.objects.create(
        name=name, host=host, remote_name=remote_name, context_length=4096, max_output_tokens=48,
        first_token_timeout_s=deadlines.get("first_token", 1.0), stall_timeout_s=deadlines.get("stall", 0.5),
        total_timeout_s=deadlines.get("total", 30.0),
    )  # fmt: skip


def _route(name: str, models: list[LLMModel]) -> Route:
    route = Route.objects.create(name=name)
    for position, model in enumerate(models):
        RouteEntry.objects.create(route=route, model=model, position=position)
    return route


def test_fifty_calls_through_the_queue_with_thirty_percent_faulted_all_end_with_a_reason(realstack: Any) -> None:
    with FaultServer() as server:
        # The `api` queue: consumed by the session's default worker (concurrency 2).
        host = Host.objects.create(name="faulty", kind="ollama", url=server.url, queue_name="api")
        backup = _model(host, "faulty-backup", "backup")
        routes = {"healthy": _route("healthy", [_model(host, "faulty-good", "good"), backup])}
        for name, fault in FAULTS.items():
            server.set_fault(name, fault)
            routes[name] = _route(f"route-{name}", [_model(host, f"faulty-{name}", name), backup])
        plan = [name for name in FAULTS for _ in range(3)] + ["healthy"] * 35  # 15 of 50 faulted
        first_ids = [
            request_completion(
                route=routes[name].name, messages=[Message(role="user", content="Say one thing.")], stage="draft"
            ).pk
            for name in plan
        ]

        def all_ended() -> bool:
            return all(last_attempt(pk).status in (CallStatus.COMPLETED, CallStatus.FAILED) for pk in first_ids)

        wait_until(all_ended, 180, "all 50 calls to end")
    ends = [last_attempt(pk) for pk in first_ids]
    assert len(ends) == 50
    assert all(e.status == CallStatus.COMPLETED or (e.status == CallStatus.FAILED and e.error) for e in ends)
    assert sum(e.status == CallStatus.COMPLETED for e in ends) == 50  # the backup answered every faulted one
    hangs = HangEvent.objects.filter(model__host=host)
    assert hangs.count() == 15 and set(hangs.values_list("action", flat=True)) == {"failed_over"}
    assert set(hangs.values_list("kind", flat=True)) == {
        "first_token_timeout",
        "stall",
        "loop",
        "host_error",
        "disconnect",
    }
    assert not LLMCall.objects.unfinished().exists()


def test_a_real_llama_cpp_stream_frozen_mid_way_is_caught_as_a_stall_and_fails_over(realstack: Any) -> None:
    resident = httpx.post(
        f"{settings.LLAMACPP_CONTROL_URL}/ensure",
        json={"model": "local-drafter"},
        headers=control_headers(),
        timeout=120,
    )
    with TcpProxy(resident.json()["port"]) as proxy:
        # Headers and the first few streamed chunks pass; then the proxy holds the stream, open and silent.
        proxy.freeze_after(1500)
        host = Host.objects.create(name="proxied", kind="openai", url=f"http://127.0.0.1:{proxy.port}")
        frozen = _model(host, "proxied-drafter", "local-drafter", first_token=30, stall=1.0, total=60)
        route = _route("frozen", [frozen, LLMModel.objects.get(name="local-drafter")])
        with dispatch_locally() as pending:
            request_completion(
                route=route.name,
                # The assistant's opening words: without them this base model ends a chat turn at once.
                messages=[
                    Message(role="user", content="Write two sentences about a church picnic in Houston."),
                    Message(role="assistant", content="The church picnic"),
                ],
                stage="draft",
                max_tokens=48,
            )
            started = time.monotonic()
            last = drain(pending)
        assert proxy.frozen.is_set()
    assert last is not None
    first = last.chain()[-1]
    assert (first.model.name, first.error_kind) == ("proxied-drafter", "stall")
    hang = HangEvent.objects.get(call=first)
    assert 1.0 <= hang.detected_after_s <= 2.0
    assert (last.model.name, last.status) == ("local-drafter", CallStatus.COMPLETED)
    assert time.monotonic() - started < 60


def test_llmcall_through_the_queue_reaches_the_real_model(realstack: Any) -> None:
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    args = [
        "--route",
        "draft",
        "--prompt",
        "The capital of France is",
        "--max-tokens",
        "8",
        "--queue",
        "--timeout",
        "90",
    ]
    call_command("llmcall", *args, stdout=out)
    result = json.loads(out.getvalue())
    drafter = Route.objects.get(name="draft").ordered_models()[0].name
    assert (result["status"], result["model"]) == ("completed", drafter)
    assert result["text"] and result["timings"]["prompt_tokens"] > 3
    assert result["timings"]["queue_wait_s"] is not None and result["timings"]["first_token_s"] is not None


def test_a_real_grammar_constrained_answer_repeating_one_value_completes_on_its_model(realstack: Any) -> None:
    """The real model under a real grammar gives one value for four needs: an answer, not a loop."""
    import json

    from llmops.watch import LoopDetector

    not_stated = "Not stated in the excerpts: nothing in them says when, where or how this happened."
    needs = ["when they married", "where they married", "who attended the wedding", "when they separated"]
    # One allowed value: the answer repeats it whatever the model's weights, so the test cannot pass by luck.
    answer = {"type": "object", "properties": {"fact": {"type": "string", "enum": [not_stated]}}, "required": ["fact"]}
    schema = {"type": "object", "properties": dict.fromkeys(needs, answer), "required": needs}
    with dispatch_locally() as pending:
        request_completion(
            route="extract",
            messages=[
                Message(role="system", content="Excerpt 1: Maria met Daniel at a church picnic in Houston in 2015."),
                Message(role="user", content=f"Answer each question from the excerpt as JSON: {'; '.join(needs)}."),
            ],
            stage="extract",
            json_schema=schema,
            max_tokens=256,
        )
        last = drain(pending)
    assert last is not None
    assert (last.status, last.attempt) == (CallStatus.COMPLETED, 1), last.error
    assert json.loads(last.output) == {need: {"fact": not_stated} for need in needs}
    detector = LoopDetector()
    assert any(detector.feed(word + " ") for word in last.output.split()), "the n-gram detector alone would cut it"
    assert not HangEvent.objects.exists()
