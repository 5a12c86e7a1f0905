"""Redaction for hosts outside the firm. llmops knows no case: its caller names a redactor.

A call records where its redactor comes from (`{"path": "package.module:function", "kwargs": {...}}`),
so whichever worker runs it can build the same one. Text bound for an `external` host is redacted
before it leaves, and the answer is restored before it is stored. A call to an external host with no
redactor is refused: nothing leaves the firm unredacted.

The redactor is built when the call is about to be sent, not when it was queued, so it also says whether
the person the text is about still allows it to leave (the client's consent): a call that waited in its
queue while consent was withdrawn, or while its host was marked external, is refused.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import import_module
from typing import Any, Protocol

from llmops.providers.base import CompletionRequest, Message


class Redactor(Protocol):
    def redact(self, text: str) -> str: ...

    def restore(self, text: str) -> str: ...

    def allows_external(self) -> bool:
        """Whether the text may leave the firm at all, as of when this redactor was built."""
        ...


class RedactionUnavailable(Exception):
    """An external host was asked to see text that no redactor could clean."""


class ConsentMissing(Exception):
    """An external host was asked to see text that the client has not allowed out, or no longer does."""


def load_redactor(ref: dict[str, Any] | None) -> Redactor:
    if not ref or not ref.get("path"):
        raise RedactionUnavailable("refusing to send text to an external host without a redactor")
    module_name, _, attribute = str(ref["path"]).partition(":")
    try:
        factory = getattr(import_module(module_name), attribute)
        redactor: Redactor = factory(**(ref.get("kwargs") or {}))
    except Exception as exc:  # any failure to build it means the text stays inside
        raise RedactionUnavailable(f"the redactor {ref['path']} could not be built ({type(exc).__name__})") from exc
    return redactor


def redactor_for_sending(ref: dict[str, Any] | None, *, allowed: bool, host_name: str) -> Redactor:
    """The redactor for a call about to go to `host_name`, a host outside the firm. `allowed` is what the caller
    said when it asked (the consent then); the redactor, built now, says whether that still holds."""
    if not allowed:
        raise ConsentMissing(f"{host_name} is outside the firm, and this call was not allowed to leave it")
    redactor = load_redactor(ref)
    if not redactor.allows_external():
        raise ConsentMissing(f"{host_name} is outside the firm, and the client no longer consents to that")
    return redactor


def redact_request(request: CompletionRequest, redactor: Redactor) -> CompletionRequest:
    messages = tuple(
        Message(
            role=m.role,
            content=redactor.redact(m.content),
            evidence=tuple(redactor.redact(e) for e in m.evidence),
        )
        for m in request.messages
    )
    return replace(request, messages=messages)
