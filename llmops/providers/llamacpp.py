"""The managed llama.cpp host: ask the box's model supervisor for the model, then stream from it.

The supervisor (`manage.py modelhost`) owns the llama.cpp server processes; this module only asks it
to make a model resident and then talks to that process's OpenAI-compatible completion endpoint.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmops.control import control_headers
from llmops.providers.base import (
    CancelToken,
    CompletionRequest,
    Delta,
    Message,
    ModelSpec,
    ProviderError,
    StreamEnd,
    StreamItem,
)
from llmops.providers.sse import abort_on_connect, abort_response, iter_sse_json, raise_for_status

# Base models loop; a mild penalty keeps them on track without changing the facts. An instruct model
# answering in a JSON grammar must repeat keys, braces and often values ("not stated" for several
# needs): a penalty there pushes it off the right token, so it gets none.
BASE_REPEAT_PENALTY = 1.15
INSTRUCT_REPEAT_PENALTY = 1.0


def render_prompt(messages: tuple[Message, ...]) -> str:
    """A plain-text prompt for models that ship no chat template (Gemma 3 270M is a base model)."""
    parts = []
    for message in messages:
        parts.append(message.content.rstrip() if message.role == "assistant" else message.content.strip() + "\n\n")
    return "".join(parts)


@functools.lru_cache(maxsize=16)
def _compiled(template: str) -> jinja2.Template:
    # As llama-cpp-python's Jinja2ChatFormatter and Transformers compile chat templates: sandboxed,
    # since the template comes from a model file.
    environment = ImmutableSandboxedEnvironment(
        loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    environment.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    return environment.from_string(template)


def _raise(message: str) -> None:
    raise jinja2.TemplateError(message)


# Control tokens as chat templates write them: `<|im_start|>` (ChatML), `<start_of_turn>` (Gemma).
_CONTROL_TOKEN = re.compile(r"<\|[^<>|\s]{1,40}\|>|<(?:start|end)_of_turn>")


@functools.lru_cache(maxsize=16)
def _control_tokens(template: str, bos_token: str, eos_token: str) -> tuple[str, ...]:
    return tuple(sorted({*_CONTROL_TOKEN.findall(template), bos_token, eos_token} - {""}, key=len, reverse=True))


def render_chat(messages: tuple[Message, ...], *, template: str, bos_token: str = "", eos_token: str = "") -> str:
    """The messages in the model's own chat template, ending where the assistant's answer begins.

    A trailing assistant message is a prefix of the answer: it follows the opened assistant turn
    instead of being rendered as a finished one. The server reads control tokens in the prompt as
    such, so the template's own markers are taken out of the messages' text: a document that holds
    `<|im_start|>system` cannot open a turn of its own.
    """
    prefix = ""
    if messages and messages[-1].role == "assistant":
        prefix, messages = messages[-1].content.rstrip(), messages[:-1]
    markers = _control_tokens(template, bos_token, eos_token)

    def text(content: str) -> str:
        for marker in markers:
            content = content.replace(marker, "")
        return content

    prefix = text(prefix)
    try:
        rendered = _compiled(template).render(
            messages=[{"role": m.role, "content": text(m.content)} for m in messages],
            add_generation_prompt=True,
            bos_token=bos_token,
            eos_token=eos_token,
            raise_exception=_raise,
            strftime_now=lambda fmt: datetime.now(UTC).strftime(fmt),
        )
    except jinja2.TemplateError as exc:
        # Only a message the template spells out is kept: one it builds may quote the messages, which ops pages
        # must not show.
        said = str(exc) if str(exc) and str(exc) in template else type(exc).__name__
        raise ProviderError(f"the model's chat template refused the messages: {said}"[:300]) from exc
    return rendered + prefix


def prompt_for(resident: dict[str, Any], messages: tuple[Message, ...]) -> str:
    """The prompt as the resident model expects it: its chat template, or plain text for a base model."""
    template = str(resident.get("chat_template") or "")
    if not template:
        return render_prompt(messages)
    return render_chat(
        messages,
        template=template,
        bos_token=str(resident.get("bos_token") or ""),
        eos_token=str(resident.get("eos_token") or ""),
    )


def json_schema_grammar(schema: dict[str, Any]) -> str:
    """A GBNF grammar for the schema, its properties in the order each object's `required` lists them.

    The order matters to a small model (a sentence's facts before its text ground the text), and a
    schema stored in PostgreSQL's jsonb comes back with its keys sorted; `required` is a list, so it
    keeps the order the caller meant.
    """
    from llama_cpp.llama_grammar import json_schema_to_gbnf  # imported only where a grammar is needed

    return json_schema_to_gbnf(json.dumps(schema), prop_order=required_order(schema))


def required_order(schema: Any) -> list[str]:
    """Property names in the order of the `required` lists, outer objects first (first mention wins)."""
    order: list[str] = []
    pending = [schema]
    while pending:
        node = pending.pop(0)
        if isinstance(node, dict):
            order += [name for name in node.get("required") or [] if name not in order]
            pending += list(node.values())
        elif isinstance(node, list):
            pending += node
    return order


class LlamaCppProvider:
    def __init__(self) -> None:
        # Where each model was last found resident, so a call does not ask the supervisor every time.
        # A refused connection or a changed context length sends us back to the supervisor.
        self._residents: dict[tuple[str, str], dict[str, Any]] = {}
        # One client for the life of the process: building one per request (as httpx.post does) costs
        # milliseconds of TLS setup on every call, for loopback connections that use no TLS at all.
        self._http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
        # Streams never reuse a connection: a cancel must find the socket of a fresh one to cut it,
        # even before the response headers arrive (see abort_on_connect).
        self._streams = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))

    def resident(self, spec: ModelSpec, *, fresh: bool = False) -> dict[str, Any]:
        key = (spec.host_url, spec.name)
        known = self._residents.get(key)
        if fresh or known is None or int(known["n_ctx"]) != spec.context_length:
            known = self._residents[key] = self.ensure_loaded(spec, timeout_s=spec.first_token_timeout_s)
        return known

    def ensure_loaded(self, spec: ModelSpec, timeout_s: float) -> dict[str, Any]:
        """Ask the supervisor to make the model resident; returns its port, pid and n_ctx."""
        try:
            response = self._http.post(
                f"{spec.host_url.rstrip('/')}/ensure",
                json={"model": spec.name},
                headers=control_headers(),
                timeout=httpx.Timeout(timeout_s, connect=5.0),
            )
        except httpx.TimeoutException as exc:
            raise ProviderError("the model did not load in time", kind="first_token_timeout") from exc
        except httpx.TransportError as exc:
            raise ProviderError(
                f"the model host supervisor at {spec.host_url} is not reachable", transient=True
            ) from exc
        if response.status_code != 200:
            # The body is not kept, as for any host: the message is shown on ops pages. The supervisor logs why.
            raise ProviderError(
                f"the model host could not load {spec.name} (HTTP {response.status_code}; its log says why)",
                transient=False,
            )
        result: dict[str, Any] = response.json()
        return result

    def count_tokens(self, spec: ModelSpec, text: str) -> int | None:
        """Count with the model's own tokenizer (loading the model if it is not resident)."""
        count = self._tokenize(f"http://127.0.0.1:{self.resident(spec)['port']}", text)
        if count is None:  # the process may have gone since we last saw it
            count = self._tokenize(f"http://127.0.0.1:{self.resident(spec, fresh=True)['port']}", text)
        return count

    @staticmethod
    def _answers(resident: dict[str, Any]) -> bool:
        """Whether the resident process still accepts connections (a dead one refuses at once)."""
        import socket

        try:
            with socket.create_connection(("127.0.0.1", int(resident["port"])), timeout=1.0):
                return True
        except OSError:
            return False

    def _tokenize(self, base_url: str, text: str) -> int | None:
        try:
            response = self._http.post(f"{base_url}/extras/tokenize", json={"input": text}, timeout=10.0)
            response.raise_for_status()
            return len(response.json()["tokens"])
        except (httpx.HTTPError, KeyError, ValueError):
            return None

    def stream(self, spec: ModelSpec, request: CompletionRequest, cancel: CancelToken) -> Iterator[StreamItem]:
        resident = self.resident(spec)
        if not self._answers(resident):
            resident = self.resident(spec, fresh=True)
        cancel.raise_if_cancelled()
        base_url = f"http://127.0.0.1:{resident['port']}"
        templated = bool(resident.get("chat_template"))
        prompt = prompt_for(resident, request.messages)
        prompt_tokens = request.prompt_tokens
        if prompt_tokens is None or templated:
            # The context guard counted the messages' text; the template's role markers come on top.
            prompt_tokens = self._tokenize(base_url, prompt) or prompt_tokens
        n_ctx = int(resident["n_ctx"])
        if prompt_tokens is not None and prompt_tokens + request.max_tokens > n_ctx:
            raise ProviderError(
                f"prompt of {prompt_tokens} tokens plus {request.max_tokens} for output exceeds n_ctx {n_ctx}",
                kind="context_overflow",
            )
        body: dict[str, Any] = {
            "prompt": prompt,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "repeat_penalty": INSTRUCT_REPEAT_PENALTY if templated else BASE_REPEAT_PENALTY,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.json_schema is not None:
            body["grammar"] = json_schema_grammar(request.json_schema)
        output_tokens = 0
        done_reason = ""
        started = time.monotonic()
        try:
            with self._streams.stream(
                "POST",
                f"{base_url}/v1/completions",
                json=body,
                timeout=httpx.Timeout(spec.total_timeout_s, connect=5.0),
                extensions={"trace": abort_on_connect(cancel)},
            ) as response:
                cancel.on_cancel(lambda: abort_response(response))
                raise_for_status(response)
                for event in iter_sse_json(response, cancel):
                    choices = event.get("choices") or []
                    if not choices:
                        continue
                    choice = choices[0]
                    text = choice.get("text") or ""
                    if text:
                        output_tokens += 1
                        yield Delta(text)
                    if choice.get("finish_reason"):
                        done_reason = str(choice["finish_reason"])
        except httpx.TransportError as exc:
            cancel.raise_if_cancelled()
            raise ProviderError(f"could not reach the model process ({type(exc).__name__})", transient=True) from exc
        yield StreamEnd(
            done_reason=done_reason or "stop",
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            n_ctx=n_ctx,
            timings={"stream_seconds": round(time.monotonic() - started, 3), "pid": resident.get("pid")},
        )
