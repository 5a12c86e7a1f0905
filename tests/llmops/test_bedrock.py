"""The Bedrock provider against a real boto3 client that never reaches AWS.

Stubber checks what the client was asked to send and plays back AWS errors. Stubber validates a
response against the service model, which wants `stream` to be one event, not a stream; so each
stubbed response gets its `stream` replaced, after the call, by botocore's own EventStream reading
wire-format event messages. Two tests talk to a local HTTP server instead, to cut a real blocked
socket read and to count the attempts the client makes.
"""

from __future__ import annotations

import binascii
import json
import struct
import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import botocore.httpsession
import pytest
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser
from botocore.stub import Stubber

from llmops.providers.base import (
    Cancelled,
    CancelToken,
    CompletionRequest,
    Delta,
    Message,
    ModelSpec,
    ProviderError,
    StreamEnd,
    StreamItem,
)
from llmops.providers.bedrock import BedrockProvider, client_config, default_client

SPEC = ModelSpec(
    name="claude-haiku",
    host_name="bedrock-us",
    host_kind="bedrock",
    host_url="",
    remote_name="anthropic.claude-3-haiku-20240307-v1:0",
    context_length=200_000,
    max_output_tokens=1024,
    first_token_timeout_s=30,
    stall_timeout_s=10,
    total_timeout_s=120,
    external=True,
    region="us-east-1",
)
REQUEST = CompletionRequest(messages=(Message("user", "Say hello."),), max_tokens=64)
_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no way out: nothing from the developer's AWS setup, no metadata service."""
    for variable in _AWS_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    original_send = botocore.httpsession.URLLib3Session.send

    def local_only(self: Any, request: Any) -> Any:
        assert request.url.startswith("http://127.0.0.1:"), "a test tried to reach AWS"
        return original_send(self, request)

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", local_only)


# --- the event-stream wire format -------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    encoded_name, encoded_value = name.encode(), value.encode()
    # 7 is the header value type "string".
    return bytes([len(encoded_name)]) + encoded_name + b"\x07" + struct.pack(">H", len(encoded_value)) + encoded_value


def wire_event(event_type: str, payload: dict[str, Any], *, exception: bool = False) -> bytes:
    """One message of the AWS event-stream encoding, as Bedrock sends it."""
    if exception:
        headers = _header(":message-type", "exception") + _header(":exception-type", event_type)
    else:
        headers = _header(":message-type", "event") + _header(":event-type", event_type)
    headers += _header(":content-type", "application/json")
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 12 + len(headers) + len(body) + 4, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", binascii.crc32(message))


def text_events(*pieces: str, stop_reason: str = "end_turn") -> list[bytes]:
    return [
        wire_event("messageStart", {"role": "assistant"}),
        *(wire_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}) for piece in pieces),
        wire_event("contentBlockStop", {"contentBlockIndex": 0}),
        wire_event("messageStop", {"stopReason": stop_reason}),
        wire_event(
            "metadata",
            {"usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15}, "metrics": {"latencyMs": 345}},
        ),
    ]


class RecordedBody:
    """Stands in for the urllib3 response under an EventStream: the bytes, in awkward chunks."""

    def __init__(self, messages: list[bytes]) -> None:
        self.data = b"".join(messages)
        self.closed = False

    def stream(self) -> Iterator[bytes]:
        # Chunks that split messages mid-prelude, as a network read does.
        for start in range(0, len(self.data), 7):
            yield self.data[start : start + 7]

    def close(self) -> None:
        self.closed = True


class StubbedBedrock:
    def __init__(self) -> None:
        self.client = boto3.client("bedrock-runtime", region_name="us-east-1")
        self.stubber = Stubber(self.client)
        self.bodies: deque[RecordedBody] = deque()
        self.client.meta.events.register("after-call.bedrock-runtime.ConverseStream", self._replace_stream)

    def respond(self, messages: list[bytes], expected_params: dict[str, Any] | None = None) -> RecordedBody:
        # A valid placeholder for Stubber's validation; `_replace_stream` swaps in the real stream.
        self.stubber.add_response(
            "converse_stream", {"stream": {"messageStart": {"role": "assistant"}}}, expected_params
        )
        body = RecordedBody(messages)
        self.bodies.append(body)
        return body

    def _replace_stream(self, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if "stream" in parsed:
            shape = model.output_shape.members["stream"]
            parsed["stream"] = EventStream(self.bodies.popleft(), shape, EventStreamJSONParser(), model.name)

    def provider(self) -> BedrockProvider:
        return BedrockProvider(client_factory=lambda spec: self.client)


@pytest.fixture
def bedrock() -> Iterator[StubbedBedrock]:
    stub = StubbedBedrock()
    with stub.stubber:
        yield stub
    stub.stubber.assert_no_pending_responses()


def run(provider: BedrockProvider, request: CompletionRequest = REQUEST, spec: ModelSpec = SPEC) -> list[StreamItem]:
    return list(provider.stream(spec, request, CancelToken()))


def failure(provider: BedrockProvider, spec: ModelSpec = SPEC) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        run(provider, spec=spec)
    return caught.value


# --- streams ----------------------------------------------------------------------------------


def test_text_deltas_usage_and_stop_reason_reach_the_stream(bedrock: StubbedBedrock) -> None:
    body = bedrock.respond(text_events("Hello", ", world"))

    items = run(bedrock.provider())

    assert items == [
        Delta("Hello"),
        Delta(", world"),
        StreamEnd(done_reason="end_turn", prompt_tokens=12, output_tokens=3, timings={"latencyMs": 345}),
    ]
    assert body.closed


def test_request_carries_system_messages_and_inference_settings(bedrock: StubbedBedrock) -> None:
    request = CompletionRequest(
        messages=(
            Message("system", "You draft declarations."),
            Message("user", "Facts: one."),
            Message("user", "Draft the section."),
            Message("assistant", "I, "),
        ),
        max_tokens=300,
        temperature=0.4,
        stop=("</section>", "###"),
    )
    bedrock.respond(
        text_events("met him in 2015."),
        expected_params={
            "modelId": SPEC.remote_name,
            "system": [{"text": "You draft declarations."}],
            # Consecutive user turns become one; a prefill loses its trailing space, which Converse rejects.
            "messages": [
                {"role": "user", "content": [{"text": "Facts: one."}, {"text": "Draft the section."}]},
                {"role": "assistant", "content": [{"text": "I,"}]},
            ],
            "inferenceConfig": {"maxTokens": 300, "temperature": 0.4, "stopSequences": ["</section>", "###"]},
        },
    )

    items = run(bedrock.provider(), request)

    assert items[0] == Delta("met him in 2015.")


def test_request_without_system_or_stops_leaves_them_out(bedrock: StubbedBedrock) -> None:
    bedrock.respond(
        text_events("Hello"),
        expected_params={
            "modelId": SPEC.remote_name,
            "messages": [{"role": "user", "content": [{"text": "Say hello."}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.2},
        },
    )

    assert run(bedrock.provider())[-1] == StreamEnd(
        done_reason="end_turn", prompt_tokens=12, output_tokens=3, timings={"latencyMs": 345}
    )


def test_evidence_a_caller_left_unrendered_still_reaches_the_model(bedrock: StubbedBedrock) -> None:
    request = CompletionRequest(
        messages=(Message("user", "Facts:\n{evidence}\nDraft it.", evidence=("He hit me.", "I left.")),),
        max_tokens=64,
    )
    bedrock.respond(
        text_events("I"),
        expected_params={
            "modelId": SPEC.remote_name,
            "messages": [{"role": "user", "content": [{"text": "Facts:\nHe hit me.\nI left.\nDraft it."}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.2},
        },
    )

    assert run(bedrock.provider(), request)[0] == Delta("I")


def test_json_schema_forces_the_respond_tool_and_streams_its_input(bedrock: StubbedBedrock) -> None:
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    request = CompletionRequest(messages=(Message("user", "Score it."),), max_tokens=50, json_schema=schema)
    bedrock.respond(
        [
            wire_event("messageStart", {"role": "assistant"}),
            wire_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Sure, here it is."}}),
            wire_event(
                "contentBlockStart",
                {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "t1", "name": "respond"}}},
            ),
            wire_event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"sco'}}}),
            wire_event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": 're": 4}'}}}),
            wire_event("contentBlockStop", {"contentBlockIndex": 1}),
            wire_event("messageStop", {"stopReason": "tool_use"}),
        ],
        expected_params={
            "modelId": SPEC.remote_name,
            "messages": [{"role": "user", "content": [{"text": "Score it."}]}],
            "inferenceConfig": {"maxTokens": 50, "temperature": 0.2},
            "toolConfig": {
                "tools": [
                    {
                        "toolSpec": {
                            "name": "respond",
                            "description": "Give the answer as JSON that follows the input schema.",
                            "inputSchema": {"json": schema},
                        }
                    }
                ],
                "toolChoice": {"tool": {"name": "respond"}},
            },
        },
    )

    items = run(bedrock.provider(), request)

    # The model's chatter outside the tool call is not part of the JSON answer.
    assert items == [Delta('{"sco'), Delta('re": 4}'), StreamEnd(done_reason="tool_use")]
    assert json.loads("".join(item.text for item in items if isinstance(item, Delta))) == {"score": 4}


def test_stream_that_ends_without_message_stop_is_a_disconnect(bedrock: StubbedBedrock) -> None:
    bedrock.respond(
        [
            wire_event("messageStart", {"role": "assistant"}),
            wire_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
        ]
    )

    error = failure(bedrock.provider())

    assert (error.kind, error.transient) == ("disconnect", True)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("ThrottlingException", 429, True),
        ("ServiceUnavailableException", 503, True),
        ("ModelNotReadyException", 429, True),
        ("InternalServerException", 500, True),
        ("ModelTimeoutException", 408, True),
        ("AccessDeniedException", 403, False),
        ("ValidationException", 400, False),
        ("ResourceNotFoundException", 404, False),
    ],
)
def test_aws_errors_are_host_errors_that_say_whether_to_retry(
    bedrock: StubbedBedrock, code: str, status: int, transient: bool
) -> None:
    bedrock.stubber.add_client_error(
        "converse_stream", service_error_code=code, service_message="no luck", http_status_code=status
    )

    error = failure(bedrock.provider())

    assert (error.kind, error.transient) == ("host_error", transient)
    assert code in str(error)


def test_input_too_long_is_a_context_overflow(bedrock: StubbedBedrock) -> None:
    bedrock.stubber.add_client_error(
        "converse_stream",
        service_error_code="ValidationException",
        service_message="Input is too long for requested model.",
        http_status_code=400,
    )

    error = failure(bedrock.provider())

    assert (error.kind, error.transient) == ("context_overflow", False)


def test_model_stream_error_mid_stream_is_a_transient_host_error_that_does_not_quote_the_model(
    bedrock: StubbedBedrock,
) -> None:
    bedrock.respond(
        [
            wire_event("messageStart", {"role": "assistant"}),
            wire_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "I met"}}),
            wire_event(
                "modelStreamErrorException",
                {"message": "model output: I met Jane", "originalStatusCode": 500, "originalMessage": "I met Jane"},
                exception=True,
            ),
        ]
    )
    items: list[StreamItem] = []

    with pytest.raises(ProviderError) as caught:
        for item in bedrock.provider().stream(SPEC, REQUEST, CancelToken()):
            items.append(item)

    assert items == [Delta("I met")]
    assert (caught.value.kind, caught.value.transient) == ("host_error", True)
    assert "modelStreamErrorException" in str(caught.value)
    assert "Jane" not in str(caught.value)


def test_throttling_mid_stream_is_a_transient_host_error(bedrock: StubbedBedrock) -> None:
    bedrock.respond(
        [
            wire_event("messageStart", {"role": "assistant"}),
            wire_event("throttlingException", {"message": "Too many tokens"}, exception=True),
        ]
    )

    error = failure(bedrock.provider())

    assert (error.kind, error.transient) == ("host_error", True)


def test_missing_credentials_say_which_variables_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    error = failure(BedrockProvider())

    assert error.transient is False
    assert "AWS_ACCESS_KEY_ID" in str(error)
    assert "AWS_SECRET_ACCESS_KEY" in str(error)


def test_missing_region_says_which_variables_to_set() -> None:
    spec = ModelSpec(**{**SPEC.__dict__, "region": ""})

    error = failure(BedrockProvider(), spec=spec)

    assert error.transient is False
    assert "AWS_REGION" in str(error)
    assert "bedrock-us" in str(error)


def test_region_comes_from_the_host_then_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")

    assert default_client(ModelSpec(**{**SPEC.__dict__, "region": "eu-west-1"})).meta.region_name == "eu-west-1"
    assert default_client(ModelSpec(**{**SPEC.__dict__, "region": ""})).meta.region_name == "us-west-2"


def test_count_tokens_is_left_to_the_host() -> None:
    assert BedrockProvider().count_tokens(SPEC, "some text") is None


# --- a real socket ----------------------------------------------------------------------------


class LocalBedrock:
    """An HTTP server on 127.0.0.1 that plays one Bedrock answer and counts the requests."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        local = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                local.requests.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
                if local.answer == "throttle":
                    body = json.dumps({"message": "Too many requests"}).encode()
                    self.send_response(429)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("x-amzn-ErrorType", "ThrottlingException")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                # One piece of text, then silence, as a stalled model sends; chunked, as Bedrock sends.
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.amazon.eventstream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for message in text_events("Hello")[:2]:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(message), message))
                self.wfile.flush()
                local.release.wait(30)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalBedrock:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def provider(self) -> BedrockProvider:
        url = f"http://127.0.0.1:{self.server.server_address[1]}"

        def client(spec: ModelSpec) -> Any:
            return boto3.session.Session().client(
                "bedrock-runtime", region_name="us-east-1", endpoint_url=url, config=client_config(spec)
            )

        return BedrockProvider(client_factory=client)


def test_cancel_from_another_thread_cuts_a_stalled_read() -> None:
    cancel = CancelToken()
    seen: list[StreamItem] = []
    raised: list[BaseException] = []

    def consume(provider: BedrockProvider) -> None:
        try:
            for item in provider.stream(SPEC, REQUEST, cancel):
                seen.append(item)
                # The watchdog's part: the stream is about to block on a host that sends nothing more.
                threading.Timer(0.2, cancel.cancel, args=("stall",)).start()
        except BaseException as exc:
            raised.append(exc)

    with LocalBedrock("stall") as host:
        reader = threading.Thread(target=consume, args=(host.provider(),), daemon=True)
        reader.start()
        # The socket's own read timeout is 35 s; only the cancel can end the read before this.
        reader.join(timeout=15)
        assert not reader.is_alive(), "the blocked read did not return after the cancel"

    assert seen == [Delta("Hello")]
    assert len(raised) == 1 and isinstance(raised[0], Cancelled)
    assert raised[0].reason == "stall"
    assert host.requests[0]["path"].endswith("/converse-stream")
    assert host.requests[0]["body"]["messages"] == [{"role": "user", "content": [{"text": "Say hello."}]}]


def test_the_client_tries_once_and_leaves_retries_to_the_runner() -> None:
    with LocalBedrock("throttle") as host:
        error = failure(host.provider())

    assert (error.kind, error.transient) == ("host_error", True)
    assert len(host.requests) == 1
