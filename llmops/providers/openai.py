"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, OpenRouter) through its streaming API.

The API key never lives in our database: a host row names the environment variable that holds it,
and the worker reads it at call time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx

from llmops.egress import is_openrouter_url
from llmops.providers.base import (
    CancelToken,
    CompletionRequest,
    Delta,
    ModelSpec,
    ProviderError,
    StreamEnd,
    StreamItem,
)
from llmops.providers.sse import (
    OOM_HINTS,
    abort_on_connect,
    abort_response,
    check_not_cancelled_after,
    iter_sse_json,
    raise_for_status,
)

_CONNECT_TIMEOUT_S = 5.0
# The socket read timeout is only a backstop for a connection the watchdog somehow could not cut:
# it sits past every between-reads deadline the watchdog enforces, so it never pre-empts one.
_READ_TIMEOUT_MARGIN_S = 5.0
_TOKENIZE_TIMEOUT_S = 5.0


def read_timeout(spec: ModelSpec) -> httpx.Timeout:
    return httpx.Timeout(
        max(spec.first_token_timeout_s, spec.stall_timeout_s) + _READ_TIMEOUT_MARGIN_S, connect=_CONNECT_TIMEOUT_S
    )


def server_root(spec: ModelSpec) -> str:
    """The server's address without the `/v1` of its OpenAI API (hosts are written either way)."""
    url = spec.host_url.rstrip("/")
    return url.removesuffix("/v1")


def auth_headers(spec: ModelSpec) -> dict[str, str]:
    """The host's extra headers plus its bearer key, read from the variable the host names."""
    headers = dict(spec.headers)
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env, "")
        if not key:
            raise ProviderError(
                f"host {spec.host_name} needs its API key in {spec.api_key_env}, which is not set "
                "in the worker's environment",
                transient=False,
            )
        headers["Authorization"] = f"Bearer {key}"
    return headers


def request_body(spec: ModelSpec, request: CompletionRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": spec.remote_name,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "stream": True,
        # Without it the stream carries no token counts, and truncation could not be checked.
        "stream_options": {"include_usage": True},
    }
    if request.seed is not None:
        body["seed"] = request.seed
    if request.stop:
        body["stop"] = list(request.stop)
    if request.json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": request.json_schema, "strict": True},
        }
    if is_openrouter_url(spec.host_url):
        body["provider"] = OPENROUTER_PRIVACY
    return body


# Case text (redacted, with the client's consent) goes only to OpenRouter's providers that neither
# collect nor retain it; a request that no such provider can serve fails rather than falling back.
OPENROUTER_PRIVACY: dict[str, Any] = {"data_collection": "deny", "zdr": True, "require_parameters": True}


def stream_error(error: object) -> ProviderError:
    """An error the host sent as an event after the stream started (OpenRouter does: the status was
    already 200). Only its code is kept: the message may quote the model's output."""
    code = error.get("code") if isinstance(error, dict) else None
    text = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    if any(hint in text.lower() for hint in OOM_HINTS):
        return ProviderError("the host ran out of memory mid-stream", kind="oom")
    return ProviderError(f"the host reported an error mid-stream (code {code})", transient=code in (429, 502, 503, 504))


class OpenAIProvider:
    def count_tokens(self, spec: ModelSpec, text: str) -> int | None:
        """Count with the server's own tokenizer where it offers one (llama.cpp, llama-cpp-python).

        Hosted APIs have none; asking them would only send the prompt out twice more for a 404.
        """
        if spec.external:
            return None
        try:
            headers = auth_headers(spec)
        except ProviderError:
            return None
        root = server_root(spec)
        for path, body in (("/tokenize", {"content": text}), ("/extras/tokenize", {"input": text})):
            try:
                response = httpx.post(f"{root}{path}", json=body, headers=headers, timeout=_TOKENIZE_TIMEOUT_S)
                response.raise_for_status()
                tokens = response.json()["tokens"]
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                continue
            if isinstance(tokens, list):
                return len(tokens)
        return None

    def stream(self, spec: ModelSpec, request: CompletionRequest, cancel: CancelToken) -> Iterator[StreamItem]:
        headers = auth_headers(spec)
        cancel.raise_if_cancelled()
        done_reason = ""
        prompt_tokens: int | None = None
        output_tokens: int | None = None
        timings: dict[str, Any] = {}
        client = httpx.Client(timeout=read_timeout(spec), headers=headers)
        try:
            with client.stream(
                "POST",
                f"{server_root(spec)}/v1/chat/completions",
                json=request_body(spec, request),
                extensions={"trace": abort_on_connect(cancel)},
            ) as response:
                cancel.on_cancel(lambda: abort_response(response))
                raise_for_status(response)
                for event in iter_sse_json(response, cancel):
                    if event.get("error"):
                        raise stream_error(event["error"])
                    choices = event.get("choices") or []
                    if choices:
                        choice = choices[0]
                        text = (choice.get("delta") or {}).get("content") or ""
                        if text:
                            yield Delta(text)
                        if choice.get("finish_reason"):
                            done_reason = str(choice["finish_reason"])
                    usage = event.get("usage")
                    if isinstance(usage, dict):
                        prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
                        output_tokens = usage.get("completion_tokens", output_tokens)
                    if isinstance(event.get("timings"), dict):  # llama.cpp server's own timings
                        timings = dict(event["timings"])
        except httpx.ReadTimeout as exc:
            # Before the response headers (a read timeout mid-stream is a disconnect, per iter_sse_json).
            check_not_cancelled_after(exc, cancel)
            raise ProviderError(
                f"{spec.host_name} sent no response within the read timeout", kind="first_token_timeout"
            ) from exc
        except (httpx.TransportError, httpx.StreamError) as exc:
            # Before the response (mid-stream losses are raised by iter_sse_json as disconnects).
            check_not_cancelled_after(exc, cancel)
            raise ProviderError(
                f"could not reach {spec.host_name} ({type(exc).__name__})", kind="host_error", transient=True
            ) from exc
        finally:
            client.close()
        yield StreamEnd(
            done_reason=done_reason or "stop",
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            timings=timings,
        )
