"""The Ollama and OpenAI-compatible providers against a host that misbehaves on request.

Deadlines are enforced the way the runner does it, by a Watchdog cutting the connection from its
own thread. The fault server holds a stalled connection for 30 s, so a test that sees the cut
within a second of the deadline proves the provider's blocked read was really interrupted.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from llmops.providers.base import (
    Cancelled,
    CancelToken,
    CompletionRequest,
    Delta,
    Message,
    ModelSpec,
    Provider,
    ProviderError,
    StreamEnd,
    StreamItem,
)
from llmops.providers.ollama import OllamaProvider
from llmops.providers.openai import OpenAIProvider
from llmops.watch import LoopDetector, Watchdog
from tests.faultserver import ANSWER, OOM_MESSAGE, Fault, FaultServer

FIRST_TOKEN_S = 0.8
STALL_S = 0.4
# How late after its deadline a hang may be seen: the watchdog checks every few hundredths of a
# second, so a whole second means only that the read was cut, not waited out.
SLACK_S = 1.0
PROMPT = "Write one short sentence about the witness."
SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}

PROVIDERS: dict[str, Callable[[], Provider]] = {"ollama": OllamaProvider, "openai": OpenAIProvider}
CHAT_PATHS = {"ollama": "/api/chat", "openai": "/v1/chat/completions"}


def model_spec(server: FaultServer | None, api: str, **changes: Any) -> ModelSpec:
    fields: dict[str, Any] = {
        "name": "m",
        "host_name": "faults",
        "host_kind": api,
        "host_url": server.url if server else "",
        "remote_name": "m",
        "context_length": 8192,
        "max_output_tokens": 256,
        "first_token_timeout_s": FIRST_TOKEN_S,
        "stall_timeout_s": STALL_S,
        "total_timeout_s": 10.0,
        **changes,
    }
    return ModelSpec(**fields)


def ask(**changes: Any) -> CompletionRequest:
    fields: dict[str, Any] = {
        "messages": (Message(role="system", content="You write affidavits."), Message(role="user", content=PROMPT)),
        "max_tokens": 64,
        **changes,
    }
    return CompletionRequest(**fields)


@dataclass
class Run:
    items: list[StreamItem] = field(default_factory=list)
    error: BaseException | None = None
    elapsed: float = 0.0

    @property
    def text(self) -> str:
        return "".join(item.text for item in self.items if isinstance(item, Delta))

    @property
    def deltas(self) -> int:
        return sum(isinstance(item, Delta) for item in self.items)

    def end(self) -> StreamEnd:
        assert self.error is None, f"the stream failed: {self.error!r}"
        assert isinstance(self.items[-1], StreamEnd), "the stream did not end with a StreamEnd"
        return self.items[-1]


def run_watched(api: str, spec: ModelSpec, request: CompletionRequest | None = None) -> Run:
    """Stream under a Watchdog exactly as runner.execute_call does, timing the whole call."""
    run = Run()
    cancel = CancelToken()
    watchdog = Watchdog(
        cancel=cancel,
        first_token_s=spec.first_token_timeout_s,
        stall_s=spec.stall_timeout_s,
        total_s=spec.total_timeout_s,
    )
    started = time.monotonic()
    try:
        with watchdog:
            for item in PROVIDERS[api]().stream(spec, request or ask(), cancel):
                if isinstance(item, Delta):
                    watchdog.progress()
                run.items.append(item)
    except (Cancelled, ProviderError) as exc:
        run.error = exc
    run.elapsed = time.monotonic() - started
    return run


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


apis = pytest.mark.parametrize("api", ["ollama", "openai"])


# --- what Ollama is sent and what it reports ----------------------------------------------------


def test_ollama_request_names_context_window_output_budget_keep_alive_and_format(fault_server: FaultServer) -> None:
    spec = model_spec(fault_server, "ollama", keep_alive="10m", remote_name="gemma3:1b")
    request = ask(num_ctx=4096, json_schema=SCHEMA, seed=7, stop=("\n\n",), temperature=0.1)

    run_watched("ollama", spec, request).end()

    (sent,) = fault_server.requests_to("/api/chat")
    assert sent.body["model"] == "gemma3:1b"
    assert sent.body["options"] == {"num_ctx": 4096, "num_predict": 64, "temperature": 0.1, "seed": 7, "stop": ["\n\n"]}
    assert sent.body["keep_alive"] == "10m"
    assert sent.body["format"] == SCHEMA
    assert sent.body["stream"] is True
    assert [m["content"] for m in sent.body["messages"]] == ["You write affidavits.", PROMPT]


def test_ollama_falls_back_to_the_models_context_length_never_the_servers_default(fault_server: FaultServer) -> None:
    spec = model_spec(fault_server, "ollama", context_length=16384, keep_alive="-1")

    end = run_watched("ollama", spec, ask(num_ctx=None)).end()

    (sent,) = fault_server.requests_to("/api/chat")
    assert sent.body["options"]["num_ctx"] == 16384
    assert sent.body["options"]["num_predict"] == 64
    assert "seed" not in sent.body["options"] and "stop" not in sent.body["options"]
    assert "format" not in sent.body
    # A bare number in the catalog goes out as a number: Ollama rejects "-1" as a duration.
    assert sent.body["keep_alive"] == -1
    assert end.n_ctx == 16384


def test_ollama_streams_the_answer_and_reports_the_hosts_counts_and_timings(fault_server: FaultServer) -> None:
    run = run_watched("ollama", model_spec(fault_server, "ollama"), ask(num_ctx=2048))

    assert run.text == " ".join(ANSWER)
    end = run.end()
    assert end.done_reason == "stop"
    assert end.prompt_tokens == len("You write affidavits.".split()) + len(PROMPT.split())
    assert end.output_tokens == len(ANSWER)
    assert end.n_ctx == 2048
    assert set(end.timings) == {
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
        "total_duration",
    }
    assert all(isinstance(value, int) for value in end.timings.values())
    assert end.timings["eval_count"] == len(ANSWER)


def test_ollama_slow_load_completes_and_reports_its_load_duration(fault_server: FaultServer) -> None:
    fault_server.set_fault("m", Fault("slow_load", load_seconds=0.3))

    end = run_watched("ollama", model_spec(fault_server, "ollama")).end()

    assert end.timings["load_duration"] >= 300_000_000
    assert end.output_tokens == len(ANSWER)


def test_ollama_has_no_tokenizer_to_count_with(fault_server: FaultServer) -> None:
    assert OllamaProvider().count_tokens(model_spec(fault_server, "ollama"), PROMPT) is None
    assert fault_server.requests == []


# --- what an OpenAI-compatible server is sent and what it reports -------------------------------


def test_openai_request_carries_response_format_bearer_key_and_extra_headers(
    fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAULTS_API_KEY", "sk-test-123")
    spec = model_spec(
        fault_server,
        "openai",
        remote_name="google/gemma-3-4b-it",
        api_key_env="FAULTS_API_KEY",
        headers=(("HTTP-Referer", "https://affiant.example"), ("X-Title", "Affiant")),
    )

    run_watched("openai", spec, ask(json_schema=SCHEMA, seed=3, stop=("END",))).end()

    (sent,) = fault_server.requests_to("/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    assert sent.headers["http-referer"] == "https://affiant.example"
    assert sent.headers["x-title"] == "Affiant"
    assert sent.body["model"] == "google/gemma-3-4b-it"
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["max_tokens"] == 64
    assert sent.body["seed"] == 3
    assert sent.body["stop"] == ["END"]
    assert sent.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": SCHEMA, "strict": True},
    }
    assert [m["content"] for m in sent.body["messages"]] == ["You write affidavits.", PROMPT]
    assert "provider" not in sent.body  # OpenRouter's own field: other servers may refuse it


@pytest.mark.parametrize(
    ("url", "openrouter"),
    [
        ("https://openrouter.ai/api", True),
        ("https://eu.openrouter.ai/api/v1", True),
        ("https://openrouter.ai.example.com/api", False),
        ("http://gpu1:8000", False),
    ],
)
def test_requests_to_openrouter_deny_data_collection_and_require_zero_retention(url: str, openrouter: bool) -> None:
    from llmops.providers.openai import request_body

    spec = model_spec(None, "openai", host_url=url, external=True)
    body = request_body(spec, ask())
    if openrouter:
        assert body["provider"] == {"data_collection": "deny", "zdr": True, "require_parameters": True}
    else:
        assert "provider" not in body


def test_openai_host_url_ending_in_v1_is_not_doubled(fault_server: FaultServer) -> None:
    run_watched("openai", model_spec(fault_server, "openai", host_url=f"{fault_server.url}/v1/")).end()

    assert [r.path for r in fault_server.requests] == ["/v1/chat/completions"]


def test_openai_missing_key_variable_fails_before_contacting_the_host(
    fault_server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAULTS_API_KEY", raising=False)

    run = run_watched("openai", model_spec(fault_server, "openai", api_key_env="FAULTS_API_KEY"))

    assert isinstance(run.error, ProviderError)
    assert not run.error.transient
    assert "FAULTS_API_KEY" in str(run.error)
    assert fault_server.requests == []


def test_openai_usage_becomes_prompt_and_output_tokens(fault_server: FaultServer) -> None:
    run = run_watched("openai", model_spec(fault_server, "openai"))

    assert run.text == " ".join(ANSWER)
    end = run.end()
    assert end.done_reason == "stop"
    assert end.prompt_tokens == len("You write affidavits.".split()) + len(PROMPT.split())
    assert end.output_tokens == len(ANSWER)
    assert end.timings == {}


def test_openai_output_budget_ends_the_answer_with_length(fault_server: FaultServer) -> None:
    end = run_watched("openai", model_spec(fault_server, "openai"), ask(max_tokens=3)).end()

    assert (end.done_reason, end.output_tokens) == ("length", 3)


def test_openai_llamacpp_timings_are_kept_as_sent(fault_server: FaultServer) -> None:
    fault_server.set_fault("m", Fault(llamacpp_timings=True))

    end = run_watched("openai", model_spec(fault_server, "openai")).end()

    assert end.timings["prompt_n"] == end.prompt_tokens
    assert end.timings["predicted_n"] == len(ANSWER)
    assert {"prompt_ms", "predicted_ms", "predicted_per_second"} <= set(end.timings)


def test_openai_counts_tokens_with_the_llamacpp_servers_tokenizer(fault_server: FaultServer) -> None:
    spec = model_spec(fault_server, "openai", host_url=f"{fault_server.url}/v1")

    assert OpenAIProvider().count_tokens(spec, "one two three four") == 4
    assert [(r.path, r.body) for r in fault_server.requests] == [("/tokenize", {"content": "one two three four"})]


def test_openai_counts_tokens_with_llama_cpp_pythons_tokenizer_when_that_is_the_one(
    fault_server: FaultServer,
) -> None:
    fault_server.tokenize_paths = {"/extras/tokenize"}

    assert OpenAIProvider().count_tokens(model_spec(fault_server, "openai"), "one two three") == 3
    assert fault_server.requests[-1].body == {"input": "one two three"}


def test_openai_token_count_is_none_where_the_host_has_no_tokenizer(fault_server: FaultServer) -> None:
    fault_server.tokenize_paths = set()
    provider = OpenAIProvider()

    assert provider.count_tokens(model_spec(fault_server, "openai"), PROMPT) is None
    assert provider.count_tokens(model_spec(fault_server, "openai", host_url=f"127.0.0.1:{closed_port()}"), "x") is None
    # A hosted API is not sent the prompt twice more just to learn it has no tokenizer.
    before = len(fault_server.requests)
    assert provider.count_tokens(model_spec(fault_server, "openai", external=True), PROMPT) is None
    assert len(fault_server.requests) == before


# --- hangs: both APIs -------------------------------------------------------------------------


@apis
@pytest.mark.parametrize(
    "fault",
    [Fault("no_first_token"), Fault("stall_after", tokens_before=0)],
    ids=["before_the_headers", "after_the_headers"],
)
def test_no_first_token_is_cut_within_the_first_token_deadline(
    fault_server: FaultServer, api: str, fault: Fault
) -> None:
    fault_server.set_fault("m", fault)

    run = run_watched(api, model_spec(fault_server, api))

    assert isinstance(run.error, Cancelled)
    assert run.error.reason == "first_token_timeout"
    assert FIRST_TOKEN_S <= run.elapsed < FIRST_TOKEN_S + SLACK_S
    assert run.deltas == 0
    assert fault_server.wait_for_hangup("m", timeout=SLACK_S), "the provider left the connection open"


@apis
def test_stall_mid_stream_is_cut_within_the_gap_deadline(fault_server: FaultServer, api: str) -> None:
    fault_server.set_fault("m", Fault("stall_after", tokens_before=3))

    run = run_watched(api, model_spec(fault_server, api))

    assert isinstance(run.error, Cancelled)
    assert run.error.reason == "stall"
    assert run.text == "The witness signed "
    assert STALL_S <= run.elapsed < STALL_S + SLACK_S
    assert fault_server.wait_for_hangup("m", timeout=SLACK_S), "the provider left the connection open"


@apis
def test_loop_is_cut_once_the_loop_detector_sees_it(fault_server: FaultServer, api: str) -> None:
    fault_server.set_fault("m", Fault("loop", token_gap_s=0.002))
    spec = model_spec(fault_server, api)
    cancel = CancelToken()
    detector = LoopDetector()
    pieces = 0

    with pytest.raises(Cancelled):
        for item in PROVIDERS[api]().stream(spec, ask(max_tokens=2000), cancel):
            assert isinstance(item, Delta), "the loop ran to its end without being caught"
            pieces += 1
            if detector.feed(item.text):
                cancel.cancel("loop")  # as the runner does
                raise Cancelled("loop")

    assert pieces < 100


# --- host failures: both APIs -----------------------------------------------------------------


@apis
def test_http_500_is_a_permanent_host_error(fault_server: FaultServer, api: str) -> None:
    fault_server.set_fault("m", Fault("http_500"))

    run = run_watched(api, model_spec(fault_server, api))

    assert isinstance(run.error, ProviderError)
    assert (run.error.kind, run.error.transient) == ("host_error", False)


@apis
@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_and_busy_statuses_are_transient_host_errors(fault_server: FaultServer, api: str, status: int) -> None:
    fault_server.set_fault("m", Fault("http_500", status=status))

    run = run_watched(api, model_spec(fault_server, api))

    assert isinstance(run.error, ProviderError)
    assert (run.error.kind, run.error.transient) == ("host_error", True)


@apis
def test_out_of_memory_is_reported_as_oom(fault_server: FaultServer, api: str) -> None:
    fault_server.set_fault("m", Fault("oom"))

    run = run_watched(api, model_spec(fault_server, api))

    assert isinstance(run.error, ProviderError)
    assert run.error.kind == "oom"
    assert not run.error.transient


def test_ollama_oom_error_names_the_memory_it_needed(fault_server: FaultServer) -> None:
    fault_server.set_fault("m", Fault("oom"))

    run = run_watched("ollama", model_spec(fault_server, "ollama"))

    assert "needs 5.6 GiB, and 2.1 GiB is available" in str(run.error)
    assert OOM_MESSAGE not in str(run.error)  # the sizes, not Ollama's own text


@apis
def test_an_error_body_quoting_case_text_is_not_kept(fault_server: FaultServer, api: str) -> None:
    quoted = "error parsing tool call: raw='The witness Jane Doe signed the statement'"
    fault_server.set_fault("m", Fault("http_500", status=400, message=quoted))

    run = run_watched(api, model_spec(fault_server, api))

    assert isinstance(run.error, ProviderError)
    assert "400" in str(run.error)
    assert "Jane Doe" not in str(run.error) and "witness" not in str(run.error)


@apis
def test_unknown_model_is_a_permanent_host_error(fault_server: FaultServer, api: str) -> None:
    fault_server.set_fault("m", Fault("not_found"))

    run = run_watched(api, model_spec(fault_server, api))

    assert isinstance(run.error, ProviderError)
    assert (run.error.kind, run.error.transient) == ("host_error", False)


@apis
def test_connection_dropped_mid_stream_is_a_disconnect(fault_server: FaultServer, api: str) -> None:
    fault_server.set_fault("m", Fault("drop", tokens_before=2))

    run = run_watched(api, model_spec(fault_server, api))

    assert isinstance(run.error, ProviderError)
    assert run.error.kind == "disconnect"
    assert run.text == "The witness "


@apis
def test_refused_connection_is_a_transient_host_error(fault_server: FaultServer, api: str) -> None:
    run = run_watched(api, model_spec(fault_server, api, host_url=f"http://127.0.0.1:{closed_port()}"))

    assert isinstance(run.error, ProviderError)
    assert (run.error.kind, run.error.transient) == ("host_error", True)


@apis
def test_truncated_prompt_reports_the_hosts_smaller_count(fault_server: FaultServer, api: str) -> None:
    fault_server.set_fault("m", Fault("truncate", reported_prompt_tokens=3))

    end = run_watched(api, model_spec(fault_server, api)).end()

    assert end.prompt_tokens == 3
    (sent,) = fault_server.requests_to(CHAT_PATHS[api])
    assert sum(len(m["content"].split()) for m in sent.body["messages"]) > 3


def test_the_managed_hosts_refusal_to_load_keeps_its_status_not_its_body() -> None:
    from llmops.providers.llamacpp import LlamaCppProvider

    refusal = {"error": "error parsing request: 'The witness Jane Doe signed'"}
    provider = LlamaCppProvider()
    provider._http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(400, json=refusal)))

    with pytest.raises(ProviderError) as refused:
        provider.ensure_loaded(model_spec(None, "llamacpp", host_url="http://127.0.0.1:8790"), timeout_s=1.0)

    assert "HTTP 400" in str(refused.value) and "Jane Doe" not in str(refused.value)
    assert not refused.value.transient


# --- the fault server itself ------------------------------------------------------------------


def test_fault_server_stop_returns_promptly_while_a_stream_is_held() -> None:
    server = FaultServer().start()
    server.set_fault("m", Fault("no_first_token"))
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            list(OllamaProvider().stream(model_spec(server, "ollama"), ask(), CancelToken()))
            outcome.append(None)
        except (Cancelled, ProviderError) as exc:
            outcome.append(exc)

    client = threading.Thread(target=call, daemon=True)
    client.start()
    deadline = time.monotonic() + 5
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests, "the held request never arrived"

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0

    client.join(timeout=2.0)
    assert not client.is_alive(), "the held client was not let go"
    # Cut before any response: a host that went away, worth another try.
    assert isinstance(outcome[0], ProviderError)
    assert (outcome[0].kind, outcome[0].transient) == ("host_error", True)


def test_fault_server_ps_lists_requested_models_until_unloaded_and_pinned_ones_always(
    fault_server: FaultServer,
) -> None:
    fault_server.pinned_ps.add("stuck")
    run_watched("ollama", model_spec(fault_server, "ollama"), ask(num_ctx=4096)).end()

    running = httpx.get(f"{fault_server.url}/api/ps").json()["models"]
    assert {m["name"]: m["context_length"] for m in running} == {"m": 4096, "stuck": 4096}
    assert all({"size", "size_vram", "expires_at"} <= set(m) for m in running)

    for model in ("m", "stuck"):
        httpx.post(f"{fault_server.url}/api/generate", json={"model": model, "keep_alive": 0})
    assert [m["name"] for m in httpx.get(f"{fault_server.url}/api/ps").json()["models"]] == ["stuck"]
