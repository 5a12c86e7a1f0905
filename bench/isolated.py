"""A stack of its own for a benchmark: SQLite and an embedded Redis under a temporary directory, the
model host supervisor and one GPU worker, on ports that nothing else here uses."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def start_isolated_stack(*, redis_port: int, control_port: int, worker: str) -> Any:
    """Configure Django for an isolated run, start its parts, and return the Stack (stop() ends them)."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        AFFIANT_VAR_DIR=tempfile.mkdtemp(prefix="affiant-bench-"),
        AFFIANT_EMBEDDED_REDIS_PORT=str(redis_port),
        LLAMACPP_CONTROL_URL=f"http://127.0.0.1:{control_port}",
        AFFIANT_LOG_LEVEL="WARNING",
    )
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    from config.stack import Stack, wait_for, workers_for

    stack = Stack(quiet=True)
    stack.ensure_redis()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_llmops", verbosity=0, stdout=sys.stderr)
    try:
        stack.ensure_modelhost("local", os.environ["LLAMACPP_CONTROL_URL"])
        stack.start_worker(worker, ["gpu.local"], concurrency=1)
        wait_for(lambda: workers_for({"gpu.local"}) == {"gpu.local"}, 60, "the GPU worker")
    except BaseException:
        stack.stop()
        raise
    return stack
