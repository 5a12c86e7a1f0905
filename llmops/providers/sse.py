"""Streaming HTTP shared by the providers that speak over httpx: SSE parsing and abortable reads."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import httpx

from llmops.providers.base import Cancelled, CancelToken, ProviderError

# How hosts say a model does not fit in memory: llama.cpp and vLLM ("out of memory"), and Ollama's
# OpenAI-compatible endpoint ("model requires more system memory (X GiB) than is available").
OOM_HINTS = ("out of memory", "requires more system memory")
# httpcore's trace events that hand over a newly opened connection (plain, then TLS).
_CONNECTED_EVENTS = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete"})


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed, or detached by the TLS wrapper that replaced it


def abort_on_connect(cancel: CancelToken) -> Callable[[str, dict[str, Any]], None]:
    """An httpcore `trace` callback that lets `cancel` shut down each connection as soon as it opens.

    A host that is loading a model may send no response headers for minutes; until they come
    there is no response for `abort_response` to cut, yet the read waiting for them must end the
    moment the watchdog fires. Pass it as `extensions={"trace": ...}` on the request.
    """

    def trace(event: str, info: dict[str, Any]) -> None:
        if event not in _CONNECTED_EVENTS:
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            cancel.on_cancel(partial(_shutdown, sock))

    return trace


def abort_response(response: httpx.Response) -> None:
    """Shut the response's socket down so a read blocked in another thread returns at once.

    Closing a socket does not wake a thread blocked in recv() on Linux; shutdown() does.
    """
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        _shutdown(sock)
    response.close()


def iter_sse_json(response: httpx.Response, cancel: CancelToken) -> Iterator[dict[str, Any]]:
    """Yield each `data:` JSON object of a server-sent-events stream until `[DONE]`."""
    try:
        for line in response.iter_lines():
            cancel.raise_if_cancelled()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                yield json.loads(data)
            except json.JSONDecodeError as exc:
                raise ProviderError("the host sent a malformed stream event") from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        cancel.raise_if_cancelled()
        raise ProviderError(f"connection lost mid-stream ({type(exc).__name__})", kind="disconnect") from exc
    cancel.raise_if_cancelled()
    raise ProviderError("the stream ended without its closing event", kind="disconnect")


def raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    response.read()
    body = response.text[:300]
    transient = response.status_code in (429, 502, 503, 504)
    kind = "oom" if any(hint in body.lower() for hint in OOM_HINTS) else "host_error"
    raise ProviderError(f"host answered HTTP {response.status_code}", kind=kind, transient=transient)


def check_not_cancelled_after(exc: BaseException, cancel: CancelToken) -> None:
    if cancel.reason is not None:
        raise Cancelled(cancel.reason) from exc
