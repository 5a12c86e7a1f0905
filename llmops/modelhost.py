"""The managed llama.cpp host: one long-lived supervisor per box that owns the model processes.

Celery children come and go (a hard time limit kills them), so they never own a model process.
They ask this supervisor, over a loopback HTTP port, to make a model resident; the supervisor
starts one `llama_cpp.server` per model in its own process group with an explicit n_ctx, records
its pid and port, and unloads by ending the whole group, which frees its memory for certain.
Every request must carry the installation's control token (llmops/control.py): any local user
can reach a loopback port.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psutil
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from llmops.control import carries_token, control_token
from llmops.gguf import estimate_bytes, read_metadata, token_texts
from llmops.gpu import process_gpu_memory, read_gpus
from llmops.hangs import record_unload_stuck
from llmops.models import Host, HostKind, LLMModel, ManagedProcess, ProcessStatus
from llmops.packaged import PACKAGES, PackagedModelError
from llmops.packaged import assemble as assemble_packaged

logger = logging.getLogger("llmops.modelhost")

# How often the supervisor checks its processes and records their memory.
_SWEEP_INTERVAL_S = 5.0
# How long an ended process group gets to exit before it is killed.
_TERM_GRACE_S = 10.0
# Which packaged GGUF a remote name means when a model gives no `gguf:` of its own: one of
# llmops.packaged.PACKAGES (gemma-3-270m, qwen2.5-coder-1.5b-instruct, …), by its own name.
PACKAGED_MODELS = {name: f"packaged:{name}" for name in PACKAGES}
# One file is resolved at a time: the start-up preparation and a first ensure may ask for the same one.
_resolving = threading.Lock()


class ModelHostError(Exception):
    pass


def estimate_need(model: LLMModel) -> int:
    """Weights plus KV cache at the model's context length, from its GGUF file's own metadata."""
    path = resolve_gguf(gguf_ref_for(model))
    return estimate_bytes(weights_bytes=path.stat().st_size, metadata=gguf_metadata(path), n_ctx=model.context_length)


@functools.cache
def gguf_metadata(path: Path) -> dict[str, Any]:
    return read_metadata(path)


@functools.cache
def chat_format(path: Path) -> dict[str, str]:
    """The GGUF's own chat template and the BOS/EOS texts it uses; an empty template for a base model.

    llama.cpp puts BOS before a completion prompt itself when the vocabulary asks for it, so the
    template then gets an empty `bos_token` and the prompt never starts with two.
    """
    metadata = gguf_metadata(path)
    template = metadata.get("tokenizer.chat_template")
    if not isinstance(template, str) or not template.strip():
        return {"chat_template": "", "bos_token": "", "eos_token": ""}
    ids = {key: int(metadata.get(f"tokenizer.ggml.{key}_token_id", -1)) for key in ("bos", "eos")}
    texts = token_texts(path, {i for i in ids.values() if i >= 0})
    # The default when the key is absent is llama.cpp's: SentencePiece vocabularies add BOS, others do not.
    adds_bos = bool(metadata.get("tokenizer.ggml.add_bos_token", metadata.get("tokenizer.ggml.model") == "llama"))
    return {
        "chat_template": template,
        "bos_token": "" if adds_bos else texts.get(ids["bos"], ""),
        "eos_token": texts.get(ids["eos"], ""),
    }


@functools.cache
def resolve_gguf(ref: str) -> Path:
    """A GGUF path from `pkg:<module>` (a PyPI package that assembles its file), `packaged:<name>`
    (parts packages that llmops.packaged assembles and verifies), or a plain path."""
    with _resolving:
        return _resolve(ref)


def _resolve(ref: str) -> Path:
    if ref.startswith("pkg:"):
        module = import_module(ref[4:])
        return Path(module.assemble())
    if ref.startswith("packaged:"):
        try:
            return assemble_packaged(ref.removeprefix("packaged:"))
        except PackagedModelError as exc:
            raise ModelHostError(str(exc)) from exc
    path = Path(ref).expanduser()
    if not path.is_file():
        raise ModelHostError(f"GGUF file {path} does not exist")
    return path


def gguf_ref_for(model: LLMModel) -> str:
    ref = model.gguf or PACKAGED_MODELS.get(model.remote_name, "")
    if not ref:
        raise ModelHostError(f"model {model.name} names no GGUF file")
    return ref


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def group_rss(pid: int) -> int:
    try:
        proc = psutil.Process(pid)
        return int(proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True)))
    except psutil.Error:
        return 0


def live_group_members(pgid: int) -> list[int]:
    """Pids in the process group that are still running (zombies do not count)."""
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def end_process_group(pgid: int, grace_s: float = _TERM_GRACE_S, leader: subprocess.Popen[bytes] | None = None) -> str:
    """SIGTERM the group, SIGKILL it after the grace period. Returns how it ended.

    `leader` is reaped as it exits when it is our own child, so it does not linger as a zombie.
    """
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return "already gone"
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if leader is not None:
            leader.poll()
        if not live_group_members(pgid):
            return "terminated"
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return "terminated"
    if leader is not None:
        leader.wait(timeout=5)
    return "killed"


@dataclass
class Resident:
    model_name: str
    process: subprocess.Popen[bytes]
    port: int
    n_ctx: int
    record_id: int
    need_bytes: int = 0  # the planner's estimate: weights plus KV cache at n_ctx
    # The model's own chat template (empty for a base model) and its BOS/EOS texts: callers render
    # their messages with it, so an instruct model sees the turns it was trained on.
    chat: dict[str, str] = field(default_factory=dict)
    # Kept in memory and written by the sweep: an ensure on the hot path of every call writes nothing.
    last_used: datetime | None = None

    def as_dict(self, *, chat: bool = False) -> dict[str, Any]:
        """Where the model listens; with `chat`, also how to prompt it (the answer to an ensure)."""
        return {
            "model": self.model_name,
            "pid": self.process.pid,
            "port": self.port,
            "n_ctx": self.n_ctx,
            "rss_bytes": group_rss(self.process.pid),
            "need_bytes": self.need_bytes,
            **(self.chat if chat else {}),
        }


class ModelSupervisor:
    def __init__(self, host: Host, *, log_dir: Path) -> None:
        if host.kind != HostKind.LLAMACPP:
            raise ModelHostError(f"host {host.name} is {host.kind}, not a managed llama.cpp host")
        # Rows are looked up by name each time: an admin may edit them while the supervisor runs.
        self.host_name = host.name
        self.log_dir = log_dir
        self.residents: dict[str, Resident] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # --- lifecycle -------------------------------------------------------------------------

    def reap_orphans(self) -> None:
        """End model processes a previous supervisor on this host left behind, so none is duplicated."""
        for record in ManagedProcess.objects.filter(
            host__name=self.host_name, status__in=[ProcessStatus.STARTING, ProcessStatus.READY]
        ):
            how = end_process_group(record.pgid, grace_s=5) if process_alive(record.pid) else "already gone"
            self._mark_stopped(record.pk, f"orphan of a previous supervisor: {how}")

    def ensure(self, model_name: str) -> dict[str, Any]:
        """Make the model resident with the context its row asks for, and say where it listens."""
        model = LLMModel.objects.select_related("host").filter(name=model_name, host__name=self.host_name).first()
        if model is None:
            raise ModelHostError(f"model {model_name} is not served by host {self.host_name}")
        with self._lock:
            resident = self.residents.get(model_name)
            if resident is not None and resident.process.poll() is not None:
                self._forget(resident, ProcessStatus.DIED, f"exited with code {resident.process.returncode}")
                resident = None
            if resident is not None and resident.n_ctx != model.context_length:
                how = end_process_group(resident.process.pid, leader=resident.process)
                self._forget(resident, ProcessStatus.STOPPED, f"context length changed: {how}")
                resident = None
            if resident is None:
                need = estimate_need(model)
                self._make_room(model, need)
                resident = self._start(model)
                resident.need_bytes = need
            resident.last_used = timezone.now()
            return resident.as_dict(chat=True)

    def unload(self, model_name: str, reason: str = "unloaded") -> dict[str, Any]:
        with self._lock:
            resident = self.residents.get(model_name)
            if resident is None:
                return {"model": model_name, "unloaded": False}
            return self._unload(resident, reason)

    def _unload(self, resident: Resident, reason: str) -> dict[str, Any]:
        """End the model's process group and verify its memory is back; escalation is a HangEvent."""
        started = time.monotonic()
        how = end_process_group(resident.process.pid, leader=resident.process)
        seconds = time.monotonic() - started
        gpu_left = process_gpu_memory(resident.process.pid) or 0
        if how == "killed" or gpu_left:
            record_unload_stuck(
                host_name=self.host_name,
                model_name=resident.model_name,
                seconds=seconds,
                detail=(
                    f"did not end on SIGTERM within {_TERM_GRACE_S:.0f}s; killed"
                    if how == "killed"
                    else f"{gpu_left // 2**20} MiB of GPU memory still held after the process ended"
                ),
            )
        self._forget(resident, ProcessStatus.STOPPED, f"{reason}: {how}")
        return {"model": resident.model_name, "unloaded": True, "how": how, "seconds": round(seconds, 3)}

    def budget_bytes(self) -> int | None:
        """What this host's models may use together: the host's setting, else its GPUs' memory."""
        host = Host.objects.filter(name=self.host_name).first()
        if host is not None and host.memory_budget_mb:
            return host.memory_budget_mb * 2**20
        gpus = read_gpus()
        return sum(g.total_bytes for g in gpus) if gpus else None

    def _make_room(self, model: LLMModel, need: int) -> None:
        """Evict least-recently-used models until `need` fits the budget; refuse if it never can."""
        budget = self.budget_bytes()
        if budget is None:
            return
        if need > budget:
            raise ModelHostError(
                f"{model.name} needs about {need // 2**20} MiB (weights and KV cache at n_ctx "
                f"{model.context_length}); host {self.host_name} has {budget // 2**20} MiB in all"
            )
        by_age = sorted(self.residents.values(), key=lambda r: r.last_used or datetime.min.replace(tzinfo=UTC))
        while by_age and sum(r.need_bytes for r in self.residents.values()) + need > budget:
            self._unload(by_age.pop(0), f"evicted to make room for {model.name}")

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "host": self.host_name,
                "pid": os.getpid(),
                "residents": [r.as_dict() for r in self.residents.values() if r.process.poll() is None],
            }

    def sweep(self) -> None:
        """Notice processes that died on their own and record the memory of the living."""
        with self._lock:
            for resident in list(self.residents.values()):
                if resident.process.poll() is not None:
                    self._forget(resident, ProcessStatus.DIED, f"exited with code {resident.process.returncode}")
                else:
                    ManagedProcess.objects.filter(pk=resident.record_id).update(
                        rss_bytes=group_rss(resident.process.pid),
                        last_seen_at=timezone.now(),
                        **({"last_used_at": resident.last_used} if resident.last_used else {}),
                    )

    def shutdown(self) -> None:
        self._stopping.set()
        for name in list(self.residents):
            self.unload(name, reason="supervisor stopped")

    # --- internals -------------------------------------------------------------------------

    def _start(self, model: LLMModel) -> Resident:
        path = resolve_gguf(gguf_ref_for(model))
        port = free_port()
        n_ctx = model.context_length
        command = [
            sys.executable, "-m", "llmops.llamacpp_server", *(["--repack"] if settings.LLAMACPP_REPACK else []),
            "--model", str(path),
            "--model_alias", model.name,
            "--n_ctx", str(n_ctx),
            "--n_threads", str(settings.LLAMACPP_THREADS),
            "--host", "127.0.0.1",
            "--port", str(port),
            # Quiet: llama.cpp's verbose output can echo prompt text, which must never reach a log.
            "--verbose", "False",
        ]  # fmt: skip
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"model-{model.name}.log").open("ab") as log:
            # Own session → own process group: unloading ends the server and anything it spawned.
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        record = ManagedProcess.objects.create(
            host=model.host, model=model, pid=process.pid, pgid=process.pid, port=port, n_ctx=n_ctx
        )
        resident = Resident(
            model_name=model.name,
            process=process,
            port=port,
            n_ctx=n_ctx,
            record_id=record.pk,
            chat=chat_format(path),
        )
        self.residents[model.name] = resident
        started = time.monotonic()
        deadline = started + settings.LLAMACPP_LOAD_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._forget(resident, ProcessStatus.DIED, f"exited during load with code {process.returncode}")
                raise ModelHostError(f"model {model.name} exited while loading (see its log)")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            end_process_group(process.pid, leader=process)
            self._forget(resident, ProcessStatus.STOPPED, "did not become ready in time")
            raise ModelHostError(f"model {model.name} did not load within {settings.LLAMACPP_LOAD_TIMEOUT_S}s")
        now = timezone.now()
        ManagedProcess.objects.filter(pk=record.pk).update(
            status=ProcessStatus.READY, ready_at=now, last_used_at=now, rss_bytes=group_rss(process.pid)
        )
        logger.info(
            "model loaded",
            extra={
                "model": model.name,
                "pid": process.pid,
                "n_ctx": n_ctx,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return resident

    def _forget(self, resident: Resident, status: str, reason: str) -> None:
        self.residents.pop(resident.model_name, None)
        self._mark_stopped(resident.record_id, reason, status=status)
        logger.info(
            "model process ended",
            extra={"model": resident.model_name, "pid": resident.process.pid, "reason": reason},
        )

    @staticmethod
    def _mark_stopped(record_id: int, reason: str, status: str = ProcessStatus.STOPPED) -> None:
        ManagedProcess.objects.filter(pk=record_id).update(
            status=status, stopped_at=timezone.now(), stop_reason=reason[:100], rss_bytes=0
        )


def make_handler(supervisor: ModelSupervisor, *, token: str) -> type[BaseHTTPRequestHandler]:
    """Requests are served only with `token` as their bearer token."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, payload: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            data: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
            return data

        def _refused(self) -> bool:
            """Answer 401 unless the request carries the token; whether it was refused."""
            if carries_token(self.headers.get("Authorization", ""), token=token):
                return False
            logger.warning("model host request without its token", extra={"path": self.path[:100]})
            self._reply(401, {"error": "the control token is missing or wrong"}, (("WWW-Authenticate", "Bearer"),))
            return True

        def do_GET(self) -> None:
            if self._refused():
                return
            if self.path == "/status":
                self._reply(200, supervisor.status())
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self._refused():
                return
            close_old_connections()
            try:
                if self.path == "/ensure":
                    self._reply(200, supervisor.ensure(str(self._body()["model"])))
                elif self.path == "/unload":
                    self._reply(200, supervisor.unload(str(self._body()["model"])))
                else:
                    self._reply(404, {"error": "not found"})
            except (ModelHostError, KeyError, ValueError) as exc:
                # Logged here, since the caller keeps only the status (its messages are shown on ops pages).
                logger.warning("model host request refused", extra={"path": self.path, "error": str(exc)[:300]})
                self._reply(400, {"error": str(exc)})
            except Exception as exc:
                logger.exception("model host request failed")
                self._reply(500, {"error": type(exc).__name__})
            finally:
                close_old_connections()

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are logged by the callers, with ids

    return Handler


def control_address(host: Host) -> tuple[str, int]:
    url = urlparse(host.url or settings.LLAMACPP_CONTROL_URL)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ModelHostError("the model host supervisor only listens on the loopback interface")
    return "127.0.0.1", url.port or 8790


def prepare_files(host_name: str) -> None:
    """Assemble and verify every model file of the host now, so that the first call does not wait for
    a packaged model to be put together, and a missing package shows in the log at start-up."""
    try:
        for model in LLMModel.objects.filter(host__name=host_name, enabled=True):
            try:
                resolve_gguf(gguf_ref_for(model))
            except (ModelHostError, OSError) as exc:
                logger.error("model file unavailable", extra={"model": model.name, "error": str(exc)[:300]})
    finally:
        close_old_connections()


def serve(host: Host, *, log_dir: Path, ready: threading.Event | None = None) -> None:
    """Run the supervisor until SIGINT or SIGTERM; every model process it started ends with it."""
    supervisor = ModelSupervisor(host, log_dir=log_dir)
    supervisor.reap_orphans()
    server = ThreadingHTTPServer(control_address(host), make_handler(supervisor, token=control_token()))
    server.daemon_threads = True

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def sweeper() -> None:
        while not supervisor._stopping.wait(_SWEEP_INTERVAL_S):
            try:
                supervisor.sweep()
            except Exception:
                logger.exception("model host sweep failed")
            finally:
                close_old_connections()

    threading.Thread(target=sweeper, name="modelhost-sweep", daemon=True).start()
    threading.Thread(target=prepare_files, args=(host.name,), name="modelhost-files", daemon=True).start()
    logger.info("model host listening", extra={"host": host.name, "port": server.server_address[1]})
    if ready is not None:
        ready.set()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        supervisor.shutdown()
        logger.info("model host stopped", extra={"host": host.name})
