"""Ollama through its own streaming chat API, with the context window and output budget always explicit.

Ollama's defaults are the trap: unless told, it runs a model with a small context and silently
drops the start of a longer prompt, and it generates until the context is full. So every call
names `num_ctx` and `num_predict`, and the runner checks `prompt_eval_count` afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import ollama

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
from llmops.providers.ollama_planner import make_room
from llmops.providers.openai import read_timeout
from llmops.providers.sse import OOM_HINTS, abort_on_connect, abort_response, check_not_cancelled_after

# Ollama's own counts and nanosecond durations, kept under their names for `runner.phase_seconds`.
TIMING_FIELDS = (
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
    "total_duration",
)
_TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
# Ollama's refusal to load a model that does not fit: the two sizes are all of its text that is kept.
_MEMORY_NEEDED = re.compile(
    r"requires more system memory \((\d+(?:\.\d+)? [KMGT]i?B)\) than is available \((\d+(?:\.\d+)? [KMGT]i?B)\)"
)


def keep_alive_value(keep_alive: str) -> str | float | None:
    """The catalog stores keep_alive as text; Ollama reads a bare number as seconds (negative: for
    ever) but rejects it as a string ("-1" has no unit), so numbers are sent as numbers."""
    if not keep_alive:
        return None
    try:
        number = float(keep_alive)
    except ValueError:
        return keep_alive
    return int(number) if number.is_integer() else number


def chat_options(spec: ModelSpec, request: CompletionRequest) -> dict[str, Any]:
    options: dict[str, Any] = {
        "num_ctx": request.num_ctx or spec.context_length,
        "num_predict": request.max_tokens,
        "temperature": request.temperature,
    }
    if request.seed is not None:
        options["seed"] = request.seed
    if request.stop:
        options["stop"] = list(request.stop)
    return options


def error_for(exc: ollama.ResponseError) -> ProviderError:
    """What Ollama's refusal means for the runner: out of memory, worth a retry, or final.

    Ollama's own text is read, never kept: it may quote what it was sent or what the model wrote (a tool call
    or a format it could not parse), and the message is shown on ops pages. As for OpenAI-compatible hosts,
    the status is kept, and for a model that does not fit, the memory it needed and the memory there was.
    """
    text = str(exc.error)
    if any(hint in text.lower() for hint in OOM_HINTS):
        sizes = _MEMORY_NEEDED.search(text)
        needed = f": it needs {sizes[1]}, and {sizes[2]} is available" if sizes else ""
        return ProviderError(f"Ollama could not load the model{needed}", kind="oom")
    if exc.status_code == -1:  # sent as an event after the stream started (the runner died)
        return ProviderError("Ollama failed mid-stream")
    return ProviderError(f"Ollama answered HTTP {exc.status_code}", transient=exc.status_code in _TRANSIENT_STATUSES)


class OllamaProvider:
    def count_tokens(self, spec: ModelSpec, text: str) -> int | None:
        """Ollama has no tokenize endpoint; the runner checks its prompt_eval_count instead."""
        return None

    def stream(self, spec: ModelSpec, request: CompletionRequest, cancel: CancelToken) -> Iterator[StreamItem]:
        cancel.raise_if_cancelled()
        options = chat_options(spec, request)
        make_room(spec, options["num_ctx"])
        cancel.raise_if_cancelled()
        response_started = False

        def on_request(http_request: httpx.Request) -> None:
            # Ollama sends no headers until the model is loaded, which may take minutes; the trace
            # lets a cancel cut the connection while the read waits for them.
            http_request.extensions["trace"] = abort_on_connect(cancel)

        def on_response(response: httpx.Response) -> None:
            nonlocal response_started
            response_started = True
            cancel.on_cancel(lambda: abort_response(response))

        client = ollama.Client(
            host=spec.host_url or None,
            timeout=read_timeout(spec),
            event_hooks={"request": [on_request], "response": [on_response]},
        )
        chunks = client.chat(
            model=spec.remote_name,
            messages=[{"role": m.role, "content": m.content} for m in request.messages],
            stream=True,
            options=options,
            keep_alive=keep_alive_value(spec.keep_alive),
            format=request.json_schema,
        )
        try:
            for chunk in chunks:
                cancel.raise_if_cancelled()
                text = chunk.message.content or ""
                if text:
                    yield Delta(text)
                if chunk.done:
                    yield StreamEnd(
                        done_reason=chunk.done_reason or "stop",
                        prompt_tokens=chunk.prompt_eval_count,
                        output_tokens=chunk.eval_count,
                        n_ctx=options["num_ctx"],
                        timings={
                            name: getattr(chunk, name) for name in TIMING_FIELDS if getattr(chunk, name) is not None
                        },
                    )
                    return
        except ollama.ResponseError as exc:
            check_not_cancelled_after(exc, cancel)
            raise error_for(exc) from exc
        except httpx.ReadTimeout as exc:
            check_not_cancelled_after(exc, cancel)
            kind = "stall" if response_started else "first_token_timeout"
            raise ProviderError(f"{spec.host_name} sent nothing within the read timeout", kind=kind) from exc
        except (httpx.TransportError, httpx.StreamError, ConnectionError) as exc:
            check_not_cancelled_after(exc, cancel)
            if response_started:
                raise ProviderError(f"connection lost mid-stream ({type(exc).__name__})", kind="disconnect") from exc
            raise ProviderError(
                f"could not reach Ollama at {spec.host_name} ({type(exc).__name__})", transient=True
            ) from exc
        except ValueError as exc:  # a line that is not JSON, or a chunk that is not a chat response
            check_not_cancelled_after(exc, cancel)
            raise ProviderError("Ollama sent a malformed stream chunk") from exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            client.close()
        if cancel.reason is not None:
            raise Cancelled(cancel.reason)
        raise ProviderError("the stream ended without its done chunk", kind="disconnect")
