"""A fake model host that misbehaves on request: Ollama's and OpenAI's streaming APIs with faults.

Tests point a provider at `FaultServer.url`, choose per model name how the host should fail with
`set_fault`, and read back what the provider sent from `requests`. Faults that hold a connection
open wait for the client to hang up or the server to stop, never for the test to time out, so a
test that passes proves the client cut the connection itself.

    with FaultServer() as server:
        server.set_fault("m", Fault("stall_after", tokens_before=3))
        ...
"""

from __future__ import annotations

import hashlib
import json
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

FaultKind = Literal[
    "none",  # a short normal answer, quickly
    "no_first_token",  # nothing at all, not even the response headers (Ollama loading a model)
    "stall_after",  # headers and `tokens_before` tokens, then nothing
    "loop",  # the same sentence over and over, up to the output budget or `LOOP_CAP_TOKENS`
    "http_500",  # an error status (`status`, 500 unless told otherwise) before any token
    "oom",  # Ollama's out-of-memory refusal to load the model
    "not_found",  # the host does not have the model
    "drop",  # `tokens_before` tokens, then the socket is shut down mid-stream
    "slow_load",  # `load_seconds` of silence before the first token, reported as load time
    "truncate",  # a normal answer that reports `reported_prompt_tokens` as the prompt's size
]

ANSWER = ("The", "witness", "signed", "the", "statement", "before", "a", "notary.")
LOOP_SENTENCE = ("I", "will", "say", "this", "one", "sentence", "again", "and", "again.")
# A looping model would go on until its budget; the cap keeps a test without one bounded.
LOOP_CAP_TOKENS = 2000
OOM_MESSAGE = "model requires more system memory (5.6 GiB) than is available (2.1 GiB)"
DEFAULT_NUM_CTX = 4096
DEFAULT_KEEP_ALIVE_S = 300.0
MODEL_SIZE_BYTES = 1_200_000_000

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Fault:
    kind: FaultKind = "none"
    tokens_before: int = 3
    load_seconds: float = 0.0
    # What the host claims it evaluated of the prompt; None counts the words actually sent.
    reported_prompt_tokens: int | None = None
    status: int = 500
    # The error text sent with `http_500`; None sends a runner crash's.
    message: str | None = None
    # Pause between tokens, for tests that need a stream to last.
    token_gap_s: float = 0.0
    # Add llama.cpp server's `timings` object to the OpenAI stream's last chunk.
    llamacpp_timings: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]  # names lower-cased


@dataclass
class _Loaded:
    context_length: int
    expires_at: datetime | None  # None: kept loaded for ever (keep_alive < 0)


@dataclass
class _State:
    faults: dict[str, Fault] = field(default_factory=dict)
    loaded: dict[str, _Loaded] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)


class FaultServer:
    """A ThreadingHTTPServer on 127.0.0.1 on a free port, serving from a background thread."""

    def __init__(self, *, hold_cap_s: float = 30.0) -> None:
        # How long a held connection waits at most: long past any deadline a test uses, so a
        # test cannot pass by waiting for the server to give up.
        self.hold_cap_s = hold_cap_s
        # Models /api/ps keeps listing whatever happens to them (a model that will not unload).
        self.pinned_ps: set[str] = set()
        # Paths of the tokenize endpoints this host offers (llama.cpp: /tokenize; llama-cpp-python:
        # /extras/tokenize); each answers one token per whitespace-separated word.
        self.tokenize_paths: set[str] = {"/tokenize"}
        # When set, the chat endpoints (OpenAI's and Ollama's) answer what this returns for the request's
        # body (sent in small pieces), instead of the fixed sentence: tests that need a schema-shaped answer.
        self.responder: Callable[[dict[str, Any]], str] | None = None
        self.stopping = threading.Event()
        self._lock = threading.Condition()
        self._state = _State()
        self._connections: set[socket.socket] = set()
        self._httpd = _HTTPServer(self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy: handler threads keep appending)."""
        with self._lock:
            return list(self._state.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def set_fault(self, model: str, fault: Fault) -> None:
        with self._lock:
            self._state.faults[model] = fault

    def fault_for(self, model: str) -> Fault:
        with self._lock:
            return self._state.faults.get(model, Fault())

    def wait_for_hangup(self, model: str, timeout: float) -> bool:
        """Whether a held stream for `model` saw its client hang up within `timeout` seconds."""
        with self._lock:
            return self._lock.wait_for(lambda: model in self._state.hangups, timeout=timeout)

    def start(self) -> FaultServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection; returns promptly even with held streams."""
        if self.stopping.is_set():
            return
        self.stopping.set()  # wakes every held stream
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=2)
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- state the handlers share -------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._state.requests.append(request)

    def _hung_up(self, model: str) -> None:
        with self._lock:
            self._state.hangups.append(model)
            self._lock.notify_all()

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _load(self, model: str, *, num_ctx: int | None, keep_alive: object) -> None:
        seconds = keep_alive_seconds(keep_alive)
        with self._lock:
            if seconds == 0:
                self._state.loaded.pop(model, None)
                return
            expires = None if seconds < 0 else datetime.now(UTC) + timedelta(seconds=seconds)
            self._state.loaded[model] = _Loaded(context_length=num_ctx or DEFAULT_NUM_CTX, expires_at=expires)

    def _running(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        with self._lock:
            loaded = {m: e for m, e in self._state.loaded.items() if e.expires_at is None or e.expires_at > now}
            for model in self.pinned_ps:
                loaded.setdefault(model, _Loaded(context_length=DEFAULT_NUM_CTX, expires_at=None))
        return [
            {
                **_model_entry(model),
                "size": MODEL_SIZE_BYTES,
                "size_vram": MODEL_SIZE_BYTES,
                "context_length": entry.context_length,
                # Ollama reports "for ever" as a date centuries away.
                "expires_at": (entry.expires_at or datetime(2318, 1, 1, tzinfo=UTC)).isoformat(),
            }
            for model, entry in sorted(loaded.items())
        ]

    def _known_models(self) -> list[str]:
        with self._lock:
            return sorted({*self._state.faults, *self._state.loaded, *self.pinned_ps})


def keep_alive_seconds(value: object) -> float:
    """Ollama's keep_alive: seconds as a number, or a Go duration ("5m", "1h30m"); negative is for ever."""
    if value is None or value == "":
        return DEFAULT_KEEP_ALIVE_S
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    try:
        return sign * float(text)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts:
        return DEFAULT_KEEP_ALIVE_S
    return sign * sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _model_entry(model: str) -> dict[str, Any]:
    return {
        "name": model,
        "model": model,
        "digest": hashlib.sha256(model.encode()).hexdigest(),
        "details": {"format": "gguf", "family": "llama", "parameter_size": "1B", "quantization_level": "Q4_K_M"},
    }


def _words(text: object) -> int:
    if isinstance(text, str):
        return len(text.split())
    if isinstance(text, list):  # OpenAI content parts
        return sum(_words(part.get("text", "")) for part in text if isinstance(part, dict))
    return 0


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: FaultServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-write is what half of these tests do; anything else is a bug here.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    @property
    def owner(self) -> FaultServer:
        return self.server.owner

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection, open_=True)

    def finish(self) -> None:
        self.owner._track(self.connection, open_=False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    # --- routing ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        self.close_connection = True  # one request per connection keeps held streams independent
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        path = self.path.split("?", 1)[0]
        self.owner._record(
            RecordedRequest(
                method=method, path=path, body=body, headers={k.lower(): v for k, v in self.headers.items()}
            )
        )
        routes = {
            ("POST", "/api/chat"): self._ollama_chat,
            ("POST", "/api/generate"): self._ollama_generate,
            ("GET", "/api/ps"): lambda _body: self._json(200, {"models": self.owner._running()}),
            ("POST", "/api/show"): self._ollama_show,
            ("GET", "/api/tags"): lambda _body: self._json(
                200, {"models": [{**_model_entry(m), "size": MODEL_SIZE_BYTES} for m in self.owner._known_models()]}
            ),
            ("POST", "/v1/chat/completions"): self._openai_chat,
            ("GET", "/v1/models"): self._openai_models,
        }
        handler = routes.get((method, path))
        if handler is None and method == "POST" and path in self.owner.tokenize_paths:
            handler = self._tokenize
        if handler is None:
            self._json(404, {"error": f"no route for {method} {path}"})
            return
        try:
            handler(body)
        except OSError:
            pass  # the client went away (or the test cut it); nothing left to answer

    # --- Ollama -------------------------------------------------------------------------------

    def _ollama_chat(self, body: dict[str, Any]) -> None:
        messages = body.get("messages") or []
        if not messages:  # Ollama loads (or, with keep_alive 0, unloads) a model on an empty chat
            self._ollama_load(body, {"message": {"role": "assistant", "content": ""}})
            return
        words = sum(_words(m.get("content")) for m in messages if isinstance(m, dict))
        self._ollama_stream(body, words, lambda text: {"message": {"role": "assistant", "content": text}})

    def _ollama_generate(self, body: dict[str, Any]) -> None:
        if not body.get("prompt"):
            self._ollama_load(body, {"response": ""})
            return
        words = _words(body.get("prompt")) + _words(body.get("system"))
        self._ollama_stream(body, words, lambda text: {"response": text})

    def _ollama_load(self, body: dict[str, Any], empty: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        options = body.get("options") or {}
        self.owner._load(model, num_ctx=options.get("num_ctx"), keep_alive=body.get("keep_alive"))
        reason = "unload" if keep_alive_seconds(body.get("keep_alive")) == 0 else "load"
        self._json(200, {"model": model, "created_at": _now_iso(), **empty, "done": True, "done_reason": reason})

    def _ollama_stream(self, body: dict[str, Any], prompt_words: int, piece: Callable[[str], dict[str, Any]]) -> None:
        model = str(body.get("model", ""))
        fault = self.owner.fault_for(model)
        options = body.get("options") or {}
        started = time.monotonic_ns()
        if self._refused(fault, model, openai=False):
            return
        # Ollama sends no headers until the model is loaded.
        if not self._loaded(fault, model):
            return
        loaded = time.monotonic_ns()
        self.owner._load(model, num_ctx=options.get("num_ctx"), keep_alive=body.get("keep_alive"))
        budget = int(options.get("num_predict") or -1)
        streaming = body.get("stream", True) is not False
        if streaming:
            self._start_chunked("application/x-ndjson")
        sent: list[str] = []
        scripted = self.owner.responder(body) if self.owner.responder is not None else None
        for text in self._pieces(scripted, fault) if scripted is not None else self._tokens(fault, budget, model):
            if text is None:  # the fault ends the stream here
                return
            sent.append(text)
            if streaming:
                self._chunk(json.dumps({"model": model, "created_at": _now_iso(), **piece(text), "done": False}))
        finished = time.monotonic_ns()
        reported = fault.reported_prompt_tokens if fault.reported_prompt_tokens is not None else prompt_words
        final = {
            "model": model,
            "created_at": _now_iso(),
            **piece("" if streaming else "".join(sent)),
            "done": True,
            "done_reason": "length" if budget >= 0 and len(sent) >= budget else "stop",
            "total_duration": finished - started,
            "load_duration": loaded - started,
            "prompt_eval_count": reported,
            "prompt_eval_duration": 1_000_000 * max(reported, 1),
            "eval_count": len(sent),
            "eval_duration": max(finished - loaded, 1),
        }
        if streaming:
            self._chunk(json.dumps(final))
            self._end_chunks()
        else:
            self._json(200, final)

    def _ollama_show(self, body: dict[str, Any]) -> None:
        model = str(body.get("model") or body.get("name") or "")
        self._json(
            200,
            {
                "modelfile": "",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": _model_entry(model)["details"],
                "model_info": {"general.architecture": "llama", "llama.context_length": 8192},
                "capabilities": ["completion"],
            },
        )

    # --- OpenAI -------------------------------------------------------------------------------

    def _openai_chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        fault = self.owner.fault_for(model)
        if self._refused(fault, model, openai=True):
            return
        if not self._loaded(fault, model):
            return
        loaded = time.monotonic()
        words = sum(_words(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict))
        budget = int(body.get("max_completion_tokens") or body.get("max_tokens") or -1)
        created = int(time.time())

        def event(choices: list[dict[str, Any]], **extra: Any) -> str:
            chunk = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": created, "model": model}
            return "data: " + json.dumps({**chunk, "choices": choices, **extra}) + "\n\n"

        self._start_chunked("text/event-stream")
        self._chunk(": keep-alive comment, as OpenRouter sends\n\n")
        count = 0
        scripted = self.owner.responder(body) if self.owner.responder is not None else None
        pieces = self._pieces(scripted, fault) if scripted is not None else self._tokens(fault, budget, model)
        for text in pieces:
            if text is None:
                return
            delta = {"role": "assistant", "content": text} if count == 0 else {"content": text}
            self._chunk(event([{"index": 0, "delta": delta, "finish_reason": None}]))
            count += 1
        finish = "length" if budget >= 0 and count >= budget else "stop"
        extra: dict[str, Any] = {}
        if fault.llamacpp_timings:
            predicted_ms = (time.monotonic() - loaded) * 1000
            extra["timings"] = {
                "prompt_n": words,
                "prompt_ms": 12.5,
                "predicted_n": count,
                "predicted_ms": round(predicted_ms, 3),
                "predicted_per_second": round(count / max(predicted_ms / 1000, 1e-6), 3),
            }
        self._chunk(event([{"index": 0, "delta": {}, "finish_reason": finish}], **extra))
        if (body.get("stream_options") or {}).get("include_usage"):
            reported = fault.reported_prompt_tokens if fault.reported_prompt_tokens is not None else words
            usage = {"prompt_tokens": reported, "completion_tokens": count, "total_tokens": reported + count}
            self._chunk(event([], usage=usage))
        self._chunk("data: [DONE]\n\n")
        self._end_chunks()

    def _openai_models(self, _body: dict[str, Any]) -> None:
        models = [
            {"id": m, "object": "model", "created": 0, "owned_by": "faultserver"} for m in self.owner._known_models()
        ]
        self._json(200, {"object": "list", "data": models})

    def _tokenize(self, body: dict[str, Any]) -> None:
        text = body.get("content", body.get("input", ""))
        self._json(200, {"tokens": list(range(_words(text)))})

    # --- faults -------------------------------------------------------------------------------

    def _refused(self, fault: Fault, model: str, *, openai: bool) -> bool:
        """Answer the faults that refuse the request outright; True when one did."""
        if fault.kind == "oom":
            status, message = 500, OOM_MESSAGE
        elif fault.kind == "http_500":
            status, message = fault.status, fault.message or "llama runner process has terminated: exit status 2"
        elif fault.kind == "not_found":
            status, message = 404, f'model "{model}" not found, try pulling it first'
        else:
            return False
        error: object = {"message": message, "type": "server_error", "code": status} if openai else message
        self._json(status, {"error": error})
        return True

    def _loaded(self, fault: Fault, model: str) -> bool:
        """Play the model's load: never ending, slow, or instant. False when nothing more must be sent."""
        if fault.kind == "no_first_token":
            self._hold(model)
            return False
        if fault.kind == "slow_load":
            return not self._wait(fault.load_seconds)
        return True

    def _pieces(self, answer: str, fault: Fault) -> Iterator[str | None]:
        for start in range(0, len(answer), 16):
            if fault.token_gap_s and start and self._wait(fault.token_gap_s):
                yield None
                return
            yield answer[start : start + 16]

    def _tokens(self, fault: Fault, budget: int, model: str) -> Iterator[str | None]:
        """The answer's pieces as the fault shapes them; None means the stream must end now."""
        looping = fault.kind == "loop"
        sentence = LOOP_SENTENCE if looping else ANSWER
        limit = LOOP_CAP_TOKENS if looping else len(ANSWER)
        if budget >= 0:
            limit = min(limit, budget)
        for index in range(limit):
            if fault.kind in ("stall_after", "drop") and index == fault.tokens_before:
                break
            if fault.token_gap_s and index and self._wait(fault.token_gap_s):
                yield None
                return
            word = sentence[index % len(sentence)]
            yield word if index == len(ANSWER) - 1 and not looping else word + " "
        if fault.kind == "stall_after":
            self._hold(model)
            yield None
        elif fault.kind == "drop":
            # Abruptly, mid-stream: no done chunk, no end of the chunked body.
            self.connection.shutdown(socket.SHUT_RDWR)
            yield None

    def _wait(self, seconds: float) -> bool:
        """Sleep, waking early when the server stops; True when it did."""
        return self.owner.stopping.wait(seconds)

    def _hold(self, model: str) -> None:
        """Send nothing until the client hangs up, the server stops, or the cap passes."""
        deadline = time.monotonic() + self.owner.hold_cap_s
        while time.monotonic() < deadline:
            if self.owner.stopping.wait(0.02):
                return
            if self._client_gone():
                self.owner._hung_up(model)
                return

    def _client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    # --- HTTP ---------------------------------------------------------------------------------

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _start_chunked(self, content_type: str) -> None:
        # Chunked, as Ollama and the OpenAI-compatible servers stream: a connection cut mid-body is
        # then an error the client can see, not a short but well-formed answer.
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()

    def _chunk(self, text: str) -> None:
        data = text.encode() if text.endswith("\n") else (text + "\n").encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
