"""Amazon Bedrock through the Converse streaming API (`bedrock-runtime` `converse_stream`).

Credentials and the region come from the worker's environment through boto3's own chain, never
from our database: a host row only names a region, and may leave even that to AWS_REGION.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import boto3
import urllib3.exceptions
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from llmops.context import render
from llmops.providers.base import (
    Cancelled,
    CancelToken,
    CompletionRequest,
    Delta,
    ModelSpec,
    ProviderError,
    StreamEnd,
    StreamItem,
)

# Makes a new bedrock-runtime client for one call; the provider owns it and closes it afterwards.
ClientFactory = Callable[[ModelSpec], Any]

# The name of the one tool a JSON request offers; its input is the answer.
JSON_TOOL_NAME = "respond"

_CONNECT_TIMEOUT_S = 10.0
# The socket read timeout is only a backstop for a connection the watchdog somehow could not cut:
# it must sit past every deadline the watchdog enforces, or it would pre-empt them and report a
# plain host error where the watchdog would have named the hang.
_READ_TIMEOUT_MARGIN_S = 5.0

# Error codes compared lower-cased: errors raised inside the stream spell them camelCase
# (throttlingException), HTTP errors PascalCase (ThrottlingException).
_TRANSIENT_CODES = frozenset(
    {
        "throttlingexception",
        "serviceunavailableexception",
        "modelnotreadyexception",
        "internalserverexception",
        "modeltimeoutexception",
        "modelstreamerrorexception",
        "servicequotaexceededexception",
    }
)
_PERMANENT_CODES = frozenset(
    {
        "accessdeniedexception",
        "validationexception",
        "resourcenotfoundexception",
        "modelerrorexception",
        "conflictexception",
        "unrecognizedclientexception",
        "expiredtokenexception",
    }
)
# Their messages may quote what the model produced, which is case text.
_CONTENT_BEARING_CODES = frozenset({"modelerrorexception", "modelstreamerrorexception"})
_OVERFLOW_HINTS = ("too long", "too many input tokens", "context length", "context window")

_NO_CREDENTIALS = (
    "no AWS credentials were found for Bedrock host {host}: set AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE, "
    "in the worker's environment"
)
_NO_REGION = (
    "Bedrock host {host} has no region: set `region:` on the host in the model catalog, "
    "or AWS_REGION (or AWS_DEFAULT_REGION) in the worker's environment"
)


def client_config(spec: ModelSpec) -> Config:
    """Timeouts from the model's deadlines, and a single attempt: the runner decides on retries."""
    return Config(
        connect_timeout=_CONNECT_TIMEOUT_S,
        read_timeout=max(spec.first_token_timeout_s, spec.stall_timeout_s) + _READ_TIMEOUT_MARGIN_S,
        # `max_attempts` in a client Config counts retries after the first try; the total is unambiguous.
        retries={"total_max_attempts": 1, "mode": "standard"},
    )


def default_client(spec: ModelSpec) -> Any:
    # botocore itself reads only AWS_DEFAULT_REGION (and the profile's region); AWS_REGION is what
    # the other AWS SDKs read first, so it comes first here too. None leaves the rest to boto3.
    region = spec.region or os.environ.get("AWS_REGION") or None
    # A session of its own: boto3's default session is not safe to share between threads.
    session = boto3.session.Session()
    return session.client("bedrock-runtime", region_name=region, config=client_config(spec))


def converse_arguments(spec: ModelSpec, request: CompletionRequest) -> dict[str, Any]:
    """The keyword arguments of `converse_stream` for one request."""
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    # The context guard has already written the evidence in; rendering again changes nothing then,
    # and keeps evidence from being dropped silently when a caller skipped the guard.
    for message in render(request.messages):
        if message.role == "system":
            if message.content.strip():
                system.append({"text": message.content})
            continue
        if message.role not in ("user", "assistant"):
            raise ProviderError(f"Bedrock has no message role {message.role!r}")
        # Converse rejects blank text blocks, and a final assistant turn (a prefill) that ends in
        # whitespace.
        text = message.content.rstrip() if message.role == "assistant" else message.content
        if not text.strip():
            continue
        # Converse wants user and assistant turns to alternate; consecutive turns of one role
        # become one turn with several text blocks.
        if messages and messages[-1]["role"] == message.role:
            messages[-1]["content"].append({"text": text})
        else:
            messages.append({"role": message.role, "content": [{"text": text}]})
    inference: dict[str, Any] = {"maxTokens": request.max_tokens, "temperature": request.temperature}
    if request.stop:
        inference["stopSequences"] = list(request.stop)
    arguments: dict[str, Any] = {"modelId": spec.remote_name, "messages": messages, "inferenceConfig": inference}
    if system:
        arguments["system"] = system
    if request.json_schema is not None:
        # Converse has no portable JSON mode; a forced tool call whose input follows the schema is
        # the constrained decoding that every tool-capable Bedrock model offers.
        arguments["toolConfig"] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": JSON_TOOL_NAME,
                        "description": "Give the answer as JSON that follows the input schema.",
                        "inputSchema": {"json": request.json_schema},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": JSON_TOOL_NAME}},
        }
    return arguments


class BedrockProvider:
    """`client_factory` makes the boto3 client for each call; tests hand in a stubbed one."""

    def __init__(self, client_factory: ClientFactory = default_client) -> None:
        self.client_factory = client_factory

    def count_tokens(self, spec: ModelSpec, text: str) -> int | None:
        """Bedrock has no tokenizer endpoint for every model; the host's own usage count comes at the end."""
        return None

    def stream(self, spec: ModelSpec, request: CompletionRequest, cancel: CancelToken) -> Iterator[StreamItem]:
        cancel.raise_if_cancelled()
        arguments = converse_arguments(spec, request)
        client: Any = None
        events: Any = None
        try:
            client = self.client_factory(spec)
            # Until the response headers arrive there is no stream to cut; a cancel in that window
            # takes effect as soon as they do, or when the read timeout (the backstop) ends the wait.
            response = client.converse_stream(**arguments)
            events = response["stream"]
            cancel.on_cancel(partial(abort_event_stream, events))
            yield from read_events(events, json_mode=request.json_schema is not None, cancel=cancel)
        except (Cancelled, ProviderError):
            raise
        except Exception as exc:
            if cancel.reason is not None:
                # Whatever the cut connection raised, the cause was the cancel.
                raise Cancelled(cancel.reason) from exc
            error = provider_error(exc, spec)
            if error is None:
                raise
            raise error from exc
        finally:
            if events is not None:
                with contextlib.suppress(Exception):
                    events.close()
            if client is not None:
                client.close()


def read_events(events: Iterable[dict[str, Any]], *, json_mode: bool, cancel: CancelToken) -> Iterator[StreamItem]:
    """Deltas from the parsed Converse events, then one StreamEnd built from messageStop and metadata."""
    done_reason: str | None = None
    usage: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    for event in events:
        cancel.raise_if_cancelled()
        if "contentBlockDelta" in event:
            delta = event["contentBlockDelta"].get("delta") or {}
            # In JSON mode only the tool's input is the answer; text a model writes around the
            # tool call would break the JSON.
            piece = (delta.get("toolUse") or {}).get("input", "") if json_mode else delta.get("text", "")
            if piece:
                yield Delta(piece)
        elif "messageStop" in event:
            done_reason = str(event["messageStop"].get("stopReason") or "stop")
        elif "metadata" in event:
            usage = event["metadata"].get("usage") or {}
            latency = (event["metadata"].get("metrics") or {}).get("latencyMs")
            if latency is not None:
                timings = {"latencyMs": latency}
    cancel.raise_if_cancelled()
    if done_reason is None:
        raise ProviderError("the Bedrock stream ended without its messageStop event", kind="disconnect", transient=True)
    yield StreamEnd(
        done_reason=done_reason,
        prompt_tokens=usage.get("inputTokens"),
        output_tokens=usage.get("outputTokens"),
        timings=timings,
    )


def abort_event_stream(events: Any) -> None:
    """Cut the HTTP response under an EventStream so a read blocked in another thread returns now.

    Closing a socket does not wake a thread blocked in recv() on Linux; shutting it down does, and
    urllib3's `shutdown()` does just that. EventStream keeps its urllib3 response private, hence
    the getattr. An aborter runs on the watchdog thread, so it must never raise.
    """
    raw = getattr(events, "_raw_stream", None)
    shutdown = getattr(raw, "shutdown", None)
    if callable(shutdown):
        try:
            shutdown()
            return
        except (OSError, ValueError, RuntimeError):
            pass  # no live socket to shut down; closing is all that is left
    with contextlib.suppress(Exception):
        events.close()


def provider_error(exc: Exception, spec: ModelSpec) -> ProviderError | None:
    """The ProviderError for an exception boto3 raised, or None for one that is not a host failure."""
    if isinstance(exc, ClientError):
        return _client_error(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ProviderError(_NO_CREDENTIALS.format(host=spec.host_name), transient=False)
    if isinstance(exc, NoRegionError):
        return ProviderError(_NO_REGION.format(host=spec.host_name), transient=False)
    # botocore's ReadTimeoutError is also urllib3's, which is what a read inside the stream raises.
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return ProviderError("Bedrock sent nothing before the read timeout", kind="host_error", transient=True)
    if isinstance(exc, BotoConnectionError):
        return ProviderError(f"Bedrock is not reachable ({type(exc).__name__})", kind="host_error", transient=True)
    if isinstance(exc, ConnectionClosedError | ResponseStreamingError | urllib3.exceptions.HTTPError):
        return ProviderError(f"connection lost mid-stream ({type(exc).__name__})", kind="disconnect", transient=True)
    if isinstance(exc, BotoCoreError):
        return ProviderError(f"the Bedrock client failed ({type(exc).__name__})", kind="host_error", transient=False)
    return None


def _client_error(exc: ClientError) -> ProviderError:
    error = exc.response.get("Error") or {}
    code = str(error.get("Code") or "")
    status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    key = code.lower()
    if key in _TRANSIENT_CODES:
        transient = True
    elif key in _PERMANENT_CODES:
        transient = False
    else:
        transient = isinstance(status, int) and (status == 429 or status >= 500)
    detail = str(error.get("Message") or "")
    message = f"Bedrock answered {code or 'an error'}"
    if isinstance(status, int):
        message += f" (HTTP {status})"
    if detail and key not in _CONTENT_BEARING_CODES:
        message += f": {detail[:200]}"
    overflow = key == "validationexception" and any(hint in detail.lower() for hint in _OVERFLOW_HINTS)
    return ProviderError(message, kind="context_overflow" if overflow else "host_error", transient=transient)
