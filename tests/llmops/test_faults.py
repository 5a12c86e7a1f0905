"""Every fault a host can commit, through the runner over real HTTP: caught, recorded, survived.

The primary model of each route lives on the fault-injecting server; the backup answers normally.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from llmops.calls import dispatch_locally, request_completion
from llmops.models import CallStatus, HangEvent, Host, LLMCall, LLMModel, Route, RouteEntry
from llmops.providers.base import Message
from llmops.runner import drain
from tests.faultserver import Fault, FaultServer

# Transactional: calls are queued on commit, which a test wrapped in a transaction never reaches.
pytestmark = pytest.mark.django_db(transaction=True)

FIRST_TOKEN_S = 1.0
STALL_S = 0.5


def make_route(server: FaultServer, kind: str) -> Route:
    host = Host.objects.create(name=f"faulty-{kind}", kind=kind, url=server.url)
    route = Route.objects.create(name=f"draft-{kind}")
    for position, name in enumerate(("primary", "backup")):
        model = LLMModel.objects.create(
            name=f"{kind}-{name}", host=host, remote_name=name, context_length=4096, max_output_tokens=64,
            first_token_timeout_s=FIRST_TOKEN_S, stall_timeout_s=STALL_S, total_timeout_s=20,
        )  # fmt: skip
        RouteEntry.objects.create(route=route, model=model, position=position)
    return route


# Long enough that a host claiming to have read a single token of it is plainly truncating.
PROMPT = "Read the statement below and say one thing about it. " + "The witness signed the statement. " * 40


def run(route: Route) -> tuple[LLMCall, float]:
    started = time.monotonic()
    with dispatch_locally() as pending:
        request_completion(route=route.name, messages=[Message(role="user", content=PROMPT)], stage="draft")
        last = drain(pending)
    assert last is not None
    return last, time.monotonic() - started


@pytest.mark.parametrize("kind", ["ollama", "openai"])
@pytest.mark.parametrize(
    ("fault", "hang_kind", "deadline"),
    [
        (Fault("no_first_token"), "first_token_timeout", FIRST_TOKEN_S),
        (Fault("stall_after", tokens_before=3), "stall", STALL_S),
        (Fault("loop"), "loop", None),
        (Fault("http_500"), "host_error", None),
        (Fault("oom"), "oom", None),
        (Fault("drop", tokens_before=3), "disconnect", None),
        (Fault("truncate", reported_prompt_tokens=1), "truncated", None),
    ],
    ids=["no-first-token", "stall", "loop", "http-500", "oom", "drop", "truncate"],
)
def test_each_fault_is_caught_recorded_and_the_call_completes_on_the_next_model(
    fault_server: FaultServer, kind: str, fault: Fault, hang_kind: str, deadline: float | None
) -> None:
    if kind == "openai" and fault.kind == "oom":
        fault = Fault("http_500")  # OpenAI-compatible servers have no out-of-memory answer of their own
        hang_kind = "host_error"
    route = make_route(fault_server, kind)
    fault_server.set_fault("primary", fault)
    last, _ = run(route)
    assert last.status == CallStatus.COMPLETED, last.error
    assert last.model.name == f"{kind}-backup"
    first = last.chain()[-1]
    assert (first.model.name, first.status, first.error_kind) == (f"{kind}-primary", "failed", hang_kind)
    hang = HangEvent.objects.get(call=first)
    assert (hang.kind, hang.action) == (hang_kind, "failed_over")
    if deadline is not None:
        assert deadline <= hang.detected_after_s <= deadline + 1
        assert fault_server.wait_for_hangup("primary", timeout=2)  # the connection was really cut


def test_a_slow_load_inside_the_first_token_deadline_is_not_a_hang(fault_server: FaultServer) -> None:
    route = make_route(fault_server, "ollama")
    fault_server.set_fault("primary", Fault("slow_load", load_seconds=0.6))
    last, _ = run(route)
    assert (last.status, last.model.name) == (CallStatus.COMPLETED, "ollama-primary")
    assert last.load_s is not None and last.load_s >= 0.6
    assert last.prompt_eval_s is not None and last.generation_s is not None
    assert not HangEvent.objects.exists()


def test_every_ollama_call_sets_num_ctx_and_num_predict(fault_server: FaultServer) -> None:
    route = make_route(fault_server, "ollama")
    last, _ = run(route)
    body = fault_server.requests_to("/api/chat")[-1].body
    assert body["options"]["num_ctx"] == 2048  # prompt + output + margin, rounded, within the model's 4096
    assert body["options"]["num_predict"] == 64
    assert last.n_ctx == 2048


def test_a_fault_on_every_model_ends_failed_with_the_last_reason(fault_server: FaultServer) -> None:
    route = make_route(fault_server, "openai")
    fault_server.set_fault("primary", Fault("stall_after", tokens_before=2))
    fault_server.set_fault("backup", Fault("http_500", status=400))
    last, _ = run(route)
    assert (last.status, last.error_kind) == (CallStatus.FAILED, "host_error")
    assert [h.action for h in HangEvent.objects.order_by("id")] == ["failed_over", "failed"]
    assert not LLMCall.objects.unfinished().exists()


def test_outbound_bodies_to_an_external_host_carry_no_known_pii(fault_server: FaultServer, firm_people: Any) -> None:
    from llmops.calls import RedactorRef

    route = make_route(fault_server, "openai")
    Host.objects.filter(name="faulty-openai").update(external=True)
    case = firm_people["case"]
    known = ["Jane Doe", "John Roe", "A123456789"]
    with dispatch_locally() as pending:
        request_completion(
            route=route.name,
            messages=[
                Message(role="system", content="Excerpts:\n{evidence}", evidence=(
                    "Jane Doe (A# 123-456-789) met John Roe in 2015.", "DOE, Jane called 911 on John Roe's threat.",
                )),
                Message(role="user", content="Write what Jane Doe would say."),
            ],
            stage="draft",
            allow_external=True,
            redactor=RedactorRef(path="casework.pii:redactor_for_case", kwargs={"case_id": case.pk}),
        )  # fmt: skip
        last = drain(pending)
    assert last is not None and last.status == CallStatus.COMPLETED, last and last.error
    sent = [r for r in fault_server.requests if r.path.endswith("/chat/completions")]
    assert sent
    for request in sent:
        body = str(request.body).lower()
        for value in known:
            assert value.lower() not in body
        assert "123-456-789" not in body
