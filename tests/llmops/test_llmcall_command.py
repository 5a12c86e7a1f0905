from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.faultserver import Fault, FaultServer

pytestmark = pytest.mark.django_db(transaction=True)

CATALOG = """
hosts:
  - {{name: flaky, kind: ollama, url: "{url}", external: false}}
models:
  - {{name: flaky-primary, host: flaky, remote_name: primary, context_length: 4096, max_output_tokens: 64,
     first_token_timeout_s: 1, stall_timeout_s: 0.5, total_timeout_s: 20}}
  - {{name: flaky-backup, host: flaky, remote_name: backup, context_length: 4096, max_output_tokens: 64,
     first_token_timeout_s: 1, stall_timeout_s: 0.5, total_timeout_s: 20}}
routes:
  draft: [flaky-primary, flaky-backup]
"""


def _llmcall(settings: Any, tmp_path: Path, server: FaultServer, *args: str) -> dict[str, Any]:
    path = tmp_path / "models.yaml"
    path.write_text(CATALOG.format(url=server.url))
    settings.LLMOPS_CONFIG = path
    out = io.StringIO()
    call_command("llmcall", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    result: dict[str, Any] = json.loads(lines[0])
    return result


def test_llmcall_prints_the_final_model_every_attempt_and_the_timings(
    fault_server: FaultServer, settings: Any, tmp_path: Path
) -> None:
    fault_server.set_fault("primary", Fault("stall_after", tokens_before=2))
    result = _llmcall(settings, tmp_path, fault_server, "--route", "draft", "--prompt", "Say one thing.")
    assert (result["status"], result["model"]) == ("completed", "flaky-backup")
    assert result["text"].strip() == "The witness signed the statement before a notary."
    first, second = result["attempts"]
    assert (first["model"], first["status"], first["hang"]) == ("flaky-primary", "failed", "stall")
    assert 0.5 <= first["detected_after_s"] <= 1.5
    assert (second["model"], second["status"], second["hang"]) == ("flaky-backup", "completed", None)
    timings = result["timings"]
    assert timings["output_tokens"] == 8 and timings["first_token_s"] is not None
    assert timings["load_s"] is not None and timings["n_ctx"] == 2048


def test_llmcall_refuses_an_unknown_route(fault_server: FaultServer, settings: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no route named 'nope'"):
        _llmcall(settings, tmp_path, fault_server, "--route", "nope", "--prompt", "x")
