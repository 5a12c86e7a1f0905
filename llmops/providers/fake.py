"""A scripted provider for unit tests of the runner's state machine. Never used outside tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Step:
    """Wait `delay_s`, then emit `text`; `stall` blocks until the stream is cancelled."""

    text: str = ""
    delay_s: float = 0.0
    stall: bool = False
    error: str = ""
    error_kind: str = "host_error"


class ScriptedProvider:
    def __init__(self, scripts: dict[str, list[Step]], reported_prompt_tokens: dict[str, int] | None = None) -> None:
        self.scripts = scripts  # model name -> steps
        # What the "host" says it evaluated; by default the whole prompt, as counted.
        self.reported_prompt_tokens = reported_prompt_tokens or {}
        self.requests: list[tuple[str, CompletionRequest]] = []

    def count_tokens(self, spec: ModelSpec, text: str) -> int | None:
        return len(text.split())

    def stream(self, spec: ModelSpec, request: CompletionRequest, cancel: CancelToken) -> Iterator[StreamItem]:
        self.requests.append((spec.name, request))
        woken = threading.Event()
        cancel.on_cancel(woken.set)
        count = 0
        for step in self.scripts.get(spec.name, []):
            if step.stall:
                woken.wait()
            elif step.delay_s:
                woken.wait(step.delay_s)
            if cancel.reason is not None:
                raise Cancelled(cancel.reason)
            if step.error:
                raise ProviderError(step.error, kind=step.error_kind)
            if step.text:
                count += 1
                yield Delta(step.text)
        reported = self.reported_prompt_tokens.get(spec.name, request.prompt_tokens)
        yield StreamEnd(done_reason="stop", prompt_tokens=reported, output_tokens=count, n_ctx=request.num_ctx)


def tokens(text: str, gap_s: float = 0.0) -> list[Step]:
    return [Step(text=word + " ", delay_s=gap_s) for word in text.split()]
