"""The seam every provider fits: a request in, a stream of text pieces out, cancellable at any time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ModelSpec:
    """What a provider needs to know about a model; built from the database rows, never ORM objects."""

    name: str
    host_name: str
    host_kind: str
    host_url: str
    remote_name: str
    context_length: int
    max_output_tokens: int
    first_token_timeout_s: float
    stall_timeout_s: float
    total_timeout_s: float
    keep_alive: str = ""
    gguf: str = ""
    external: bool = False
    api_key_env: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    region: str = ""
    memory_budget_mb: int | None = None


@dataclass(frozen=True)
class Message:
    """One message. `evidence` holds passages ranked best first that the context guard may drop
    from the end to fit the model; they are written into `content` at `{evidence}` (or after it)."""

    role: str  # "system" | "user" | "assistant"
    content: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompletionRequest:
    messages: tuple[Message, ...]
    max_tokens: int
    temperature: float = 0.2
    json_schema: dict[str, Any] | None = None
    stop: tuple[str, ...] = ()
    # Varies the sample between attempts of the same prompt, so a failover does not repeat a loop.
    seed: int | None = None
    # The context window to run with (Ollama's num_ctx); None means the model's context_length.
    num_ctx: int | None = None
    # The prompt's size in the model's own tokenizer, when the context guard could count it.
    prompt_tokens: int | None = None


@dataclass(frozen=True)
class Delta:
    """A piece of generated text as it arrives."""

    text: str


@dataclass(frozen=True)
class StreamEnd:
    """The last item of a stream: why it ended and what the host counted.

    `prompt_tokens` is what the host says it evaluated (Ollama's prompt_eval_count, OpenAI's
    usage.prompt_tokens); the runner compares it with what it sent to catch silent truncation.
    `timings` holds the host's own timings as it reports them (Ollama's nanosecond durations,
    llama.cpp's `timings` object), under their original names.
    """

    done_reason: str
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    n_ctx: int | None = None
    timings: dict[str, Any] = field(default_factory=dict)


StreamItem = Delta | StreamEnd


class ProviderError(Exception):
    """A host failed the call. `transient` says whether trying the same model again may work."""

    def __init__(self, message: str, *, kind: str = "host_error", transient: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.transient = transient


class Cancelled(Exception):
    """The stream was cut by the caller (a deadline passed); `reason` is the hang kind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CancelToken:
    """Lets a watchdog thread cut a stream that is blocked reading from the network.

    A provider registers how to abort its current connection; `cancel` runs it at once, from any
    thread, so a blocked read returns instead of waiting for the host.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._aborters: list[Callable[[], None]] = []
        self.reason: str | None = None

    def on_cancel(self, aborter: Callable[[], None]) -> None:
        with self._lock:
            if self.reason is None:
                self._aborters.append(aborter)
                return
        aborter()

    def cancel(self, reason: str) -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            aborters, self._aborters = self._aborters, []
        for aborter in aborters:
            try:
                aborter()
            except OSError:
                pass  # the connection is already gone, which is what we wanted

    def raise_if_cancelled(self) -> None:
        if self.reason is not None:
            raise Cancelled(self.reason)


class Provider(Protocol):
    def count_tokens(self, spec: ModelSpec, text: str) -> int | None:
        """The text's length in the model's own tokenizer, or None where the host has none."""
        ...

    def stream(self, spec: ModelSpec, request: CompletionRequest, cancel: CancelToken) -> Iterator[StreamItem]:
        """Yield Deltas as the host produces them, then exactly one StreamEnd.

        Raises ProviderError for host failures and Cancelled once `cancel` has fired.
        """
        ...
