"""The context guard: a prompt is counted, fitted and sent with an explicit context, never cut silently.

The prompt is counted in the model's own tokenizer when its host has one, else estimated on the
high side. If it does not fit beside the output budget, the lowest-ranked evidence passages that the
caller marked as droppable go first; if it still does not fit, the call fails as `context_overflow`.
After the call, a host that says it evaluated fewer prompt tokens than were sent has truncated the
prompt, and the call fails as `truncated`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

from llmops.providers.base import CompletionRequest, Message, ModelSpec

# Tokens kept free beside prompt and output: chat templates add role markers the count cannot see.
MARGIN_TOKENS = 32
# Per message, for the template's own tokens around it.
_PER_MESSAGE_TOKENS = 8
# Characters per token, bounds for English prose in common tokenizers: the high estimate divides by
# the low figure (so it overestimates), the truncation check by the high one (so it underestimates).
_CHARS_PER_TOKEN_LOW = 2.5
_CHARS_PER_TOKEN_HIGH = 8.0
# num_ctx is rounded up to a multiple of this: Ollama reloads a model whenever num_ctx changes, so
# a few sizes instead of one per prompt keep it resident.
_NUM_CTX_STEP = 2048


class ContextOverflow(Exception):
    """The prompt cannot fit the model's context even without its droppable evidence."""


class Counter(Protocol):
    def count_tokens(self, spec: ModelSpec, text: str) -> int | None: ...


@dataclass(frozen=True)
class FittedPrompt:
    request: CompletionRequest
    prompt_tokens: int
    exact: bool  # counted by the model's own tokenizer, not estimated
    dropped_evidence: int


def render(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """Messages with their evidence written into their text, as the host will see them."""
    rendered = []
    for message in messages:
        if not message.evidence:
            rendered.append(message)
            continue
        block = "\n".join(message.evidence)
        content = (
            message.content.replace("{evidence}", block)
            if "{evidence}" in message.content
            else f"{message.content}\n{block}"
        )
        rendered.append(Message(role=message.role, content=content))
    return tuple(rendered)


def prompt_text(messages: tuple[Message, ...]) -> str:
    return "\n\n".join(m.content for m in messages)


def estimate_tokens(text: str, messages: int = 1) -> int:
    """A count no tokenizer should exceed for ordinary text."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN_LOW) + _PER_MESSAGE_TOKENS * messages


def least_tokens(text: str) -> int:
    """A count every tokenizer should reach: fewer reported tokens than this means truncation."""
    return int(len(text) / _CHARS_PER_TOKEN_HIGH)


def _drop_lowest_ranked(messages: tuple[Message, ...]) -> tuple[Message, ...] | None:
    """Drop the last (lowest-ranked) evidence passage of the last message that has any."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].evidence:
            trimmed = replace(messages[index], evidence=messages[index].evidence[:-1])
            return (*messages[:index], trimmed, *messages[index + 1 :])
    return None


def fit_context(counter: Counter, spec: ModelSpec, request: CompletionRequest) -> FittedPrompt:
    budget = spec.context_length - request.max_tokens - MARGIN_TOKENS
    messages = request.messages
    dropped = 0
    while True:
        rendered = render(messages)
        text = prompt_text(rendered)
        counted = counter.count_tokens(spec, text)
        exact = counted is not None
        tokens = (
            counted + _PER_MESSAGE_TOKENS * len(rendered)
            if counted is not None
            else estimate_tokens(text, len(rendered))
        )
        if tokens <= budget:
            break
        shorter = _drop_lowest_ranked(messages)
        if shorter is None:
            raise ContextOverflow(
                f"the prompt needs {tokens} tokens; {spec.name} has room for {budget} "
                f"beside {request.max_tokens} output tokens (context {spec.context_length})"
            )
        messages = shorter
        dropped += 1
    num_ctx = min(
        spec.context_length, math.ceil((tokens + request.max_tokens + MARGIN_TOKENS) / _NUM_CTX_STEP) * _NUM_CTX_STEP
    )
    fitted = replace(request, messages=rendered, num_ctx=num_ctx, prompt_tokens=counted)
    return FittedPrompt(request=fitted, prompt_tokens=tokens, exact=exact, dropped_evidence=dropped)


def was_truncated(fitted: FittedPrompt, reported: int | None) -> bool:
    """Whether the host evaluated fewer prompt tokens than it was sent."""
    if reported is None:
        return False
    if fitted.exact and fitted.request.prompt_tokens is not None:
        return reported < fitted.request.prompt_tokens
    return reported < least_tokens(prompt_text(fitted.request.messages))
