"""Settings read afresh in a child process, as a deployment started with a given environment reads them (a
test's own process has its settings already, and a refusal to start would end it)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def import_settings(
    env: dict[str, str], *, without: Iterable[str] = (), code: str = "import config.settings"
) -> subprocess.CompletedProcess[str]:
    """`code` run in a child whose environment is this one's, less `without`, with `env` on top."""
    dropped = set(without)
    environment = {k: v for k, v in os.environ.items() if k not in dropped} | env
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True, text=True, timeout=60, check=False
    )
