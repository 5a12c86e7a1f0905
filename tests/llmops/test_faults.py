"""Every fault a host can commit, through the runner over real HTTP: caught, recorded, survived.

The primary model of each route lives on the fault-injecting server; the backup answers normally.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from llmops.calls import dispatch_locally, request_completion
from llmops.models import CallStatus, HangEvent, Host, LLMCall, LLMModel, Route, RouteEntry
from llmops.providers.base import Message
from llmops.runner import drain
from tests.faultserver import Fault, FaultServer
from tests.llmops import shapes

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
    from casework.models import Case
    from llmops.calls import RedactorRef

    route = make_route(fault_server, "openai")
    Host.objects.filter(name="faulty-openai").update(external=True)
    case = firm_people["case"]
    Case.objects.filter(pk=case.pk).update(consent_external=True)
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


# --- answers under a schema, and refusals --------------------------------------------------------


def run_extract(route: Route, schema: dict[str, Any]) -> LLMCall:
    with dispatch_locally() as pending:
        request_completion(
            route=route.name, messages=[Message(role="user", content=PROMPT)], stage="extract", json_schema=schema
        )
        last = drain(pending)
    assert last is not None
    return last


@pytest.mark.parametrize("kind", ["ollama", "openai"])
@pytest.mark.parametrize(
    "answer",
    [shapes.same_not_stated_for_four_needs(), shapes.one_fact_for_four_needs()],
    ids=["same-not-stated-for-four-needs", "one-fact-for-four-needs"],
)
def test_a_valid_answer_repeating_one_value_for_several_needs_completes_on_its_model(
    fault_server: FaultServer, kind: str, answer: str
) -> None:
    route = make_route(fault_server, kind)
    fault_server.responder = lambda body: answer
    last = run_extract(route, shapes.extract_schema())
    assert (last.status, last.model.name, last.attempt) == (CallStatus.COMPLETED, f"{kind}-primary", 1), last.error
    assert json.loads(last.output) == json.loads(answer)
    assert not HangEvent.objects.exists()


@pytest.mark.parametrize("kind", ["ollama", "openai"])
@pytest.mark.parametrize(
    "looping",
    [shapes.array_past_max_items(copies=40), shapes.fact_looping_inside_itself(repeats=60)],
    ids=["array-past-max-items", "value-looping-inside-itself"],
)
def test_a_json_answer_looping_past_its_schema_is_cut_as_a_loop_and_fails_over(
    fault_server: FaultServer, kind: str, looping: str
) -> None:
    route = make_route(fault_server, kind)
    valid = shapes.one_fact_for_four_needs()
    fault_server.responder = lambda body: looping if body["model"] == "primary" else valid
    last = run_extract(route, shapes.extract_schema())
    assert (last.status, last.model.name) == (CallStatus.COMPLETED, f"{kind}-backup"), last.error
    first = last.chain()[-1]
    assert (first.status, first.error_kind) == ("failed", "loop")
    assert len(first.output) < len(looping) // 4  # cut early, not read to its end
    hang = HangEvent.objects.get(call=first)
    assert (hang.kind, hang.action, hang.stage) == ("loop", "failed_over", "extract")


@pytest.mark.parametrize("kind", ["ollama", "openai"])
@pytest.mark.parametrize("structured", [False, True], ids=["free-text", "json"])
def test_a_refusal_is_recorded_and_the_call_completes_on_the_next_model(
    fault_server: FaultServer, kind: str, structured: bool, firm_people: Any
) -> None:
    from django.test import Client
    from django.urls import reverse

    route = make_route(fault_server, kind)
    if structured:
        refusal = json.dumps(
            {shapes.NEEDS[0]: {"excerpt": 0, "actor": "other", "fact": "I'm sorry, but I can't help with that."}}
        )
        answer = shapes.one_fact_for_four_needs()
    else:
        # Typographic apostrophes, as instruct models write them.
        refusal = "I\u2019m sorry, but I can\u2019t assist with that request. If you are in danger, please call 911."
        answer = "I met Daniel in March 2015 at a church picnic in Houston."
    fault_server.responder = lambda body: refusal if body["model"] == "primary" else answer
    if structured:
        last = run_extract(route, shapes.extract_schema())
    else:
        last, _ = run(route)
    assert (last.status, last.model.name, last.output) == (CallStatus.COMPLETED, f"{kind}-backup", answer)
    first = last.chain()[-1]
    assert (first.status, first.error_kind, first.output) == ("failed", "refused", refusal)
    hang = HangEvent.objects.get(call=first)
    assert (hang.kind, hang.action) == ("refused", "failed_over")
    assert "refused" in hang.detail and "sorry" not in hang.detail.lower()  # the model's words stay in the call

    ops = Client()
    ops.force_login(firm_people["ops"])
    page = ops.get(reverse("llmops:model_list")).content.decode()
    refused = lambda name: page[page.index(f'data-model="{name}"') :].split('<td class="refused">')[1].split("<")[0]  # noqa: E731
    assert (refused(f"{kind}-primary"), refused(f"{kind}-backup")) == ("1", "0")
