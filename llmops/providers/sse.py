"""Streaming HTTP shared by the providers that speak over httpx: SSE parsing and abortable reads."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx

from llmops.providers.base import Cancelled, CancelToken, ProviderError


def abort_response(response: httpx.Response) -> None:
    """Shut the response's socket down so a read blocked in another thread returns at once.

    Closing a socket does not wake a thread blocked in recv() on Linux; shutdown() does.
    """
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
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
    kind = "oom" if "out of memory" in body.lower() else "host_error"
    raise ProviderError(f"host answered HTTP {response.status_code}", kind=kind, transient=transient)


def check_not_cancelled_after(exc: BaseException, cancel: CancelToken) -> None:
    if cancel.reason is not None:
        raise Cancelled(cancel.reason) from exc
