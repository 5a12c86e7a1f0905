"""`manage.py demo --headless` on a machine where nothing is running: it starts and stops it all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.stack import port_open
from tests.conftest import REPO

pytestmark = pytest.mark.realstack

# Ports of its own, so the command finds nothing of the test session's (or `make run`'s) running.
REDIS_PORT = 6393
CONTROL_PORT = 8793


def test_demo_headless_starts_what_it_needs_drafts_and_stops_it_all(tmp_path: Path) -> None:
    assert not port_open("127.0.0.1", REDIS_PORT) and not port_open("127.0.0.1", CONTROL_PORT)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        AFFIANT_VAR_DIR=str(tmp_path),
        AFFIANT_EMBEDDED_REDIS_PORT=str(REDIS_PORT),
        LLAMACPP_CONTROL_URL=f"http://127.0.0.1:{CONTROL_PORT}",
        AFFIANT_DRAFT_SECTIONS="introduction",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--headless"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {"run", "status", "sections", "words", "llm_calls", "hangs", "seconds"}
    assert summary["status"] == "completed"
    assert summary["sections"] == 1 and summary["words"] > 3 and summary["llm_calls"] >= 1
    # It used the embedded Redis and SQLite under its var dir, and left nothing running.
    assert (tmp_path / "affiant.sqlite3").exists() and (tmp_path / "redis").is_dir()
    assert not port_open("127.0.0.1", REDIS_PORT) and not port_open("127.0.0.1", CONTROL_PORT)
