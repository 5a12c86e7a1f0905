"""Model swaps when several runs share one GPU host: FIFO dispatch against grouped, in one run.

    .venv/bin/python bench/swaps.py [--runs 8] [--models 4]

N runs each need one call on each of M logical models (all sharing the Gemma file, each with its own
n_ctx) on the managed llama.cpp host, whose memory budget holds one model at a time, so every change
of model is a load. The calls are queued run by run, as concurrent runs would queue them; first with
the host dispatching in arrival order, then grouped by model. The last line is one JSON object:
{"fifo_loads": a, "grouped_loads": b, "fifo_seconds": x, "grouped_seconds": y}. Goal: b <= M.
Runs on its own SQLite database and embedded Redis under a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--models", type=int, default=4)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="affiant-swaps-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        AFFIANT_VAR_DIR=str(var),
        AFFIANT_EMBEDDED_REDIS_PORT="6395",
        LLAMACPP_CONTROL_URL="http://127.0.0.1:8795",
        AFFIANT_LOG_LEVEL="WARNING",
    )
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    from config.stack import Stack

    stack = Stack(quiet=True)
    stack.ensure_redis()
    django.setup()

    import httpx
    from django.core.management import call_command
    from django.db import transaction

    from config.stack import wait_for, workers_for
    from llmops.calls import request_completion
    from llmops.models import CallStatus, Host, LLMCall, LLMModel, ManagedProcess, Route, RouteEntry
    from llmops.providers.base import Message

    call_command("migrate", verbosity=0)
    call_command("load_llmops", verbosity=0, stdout=sys.stderr)
    host = Host.objects.get(name="local")
    # Room for one of these models at a time (each needs about 285-315 MiB): every change of model is a load.
    Host.objects.filter(pk=host.pk).update(memory_budget_mb=400)
    names = []
    for i in range(args.models):
        name = f"swap-{i}"
        model, _ = LLMModel.objects.update_or_create(
            name=name,
            defaults={
                "host": host, "remote_name": "gemma-3-270m", "context_length": 1024 + 512 * i,
                "max_output_tokens": 8, "first_token_timeout_s": 60, "stall_timeout_s": 10, "total_timeout_s": 120,
            },
        )  # fmt: skip
        route, _ = Route.objects.get_or_create(name=name)
        RouteEntry.objects.filter(route=route).delete()
        RouteEntry.objects.create(route=route, model=model, position=0)
        names.append(name)

    def phase(dispatch: str) -> tuple[int, float]:
        Host.objects.filter(pk=host.pk).update(dispatch=dispatch)
        for name in names:
            httpx.post(f"{os.environ['LLAMACPP_CONTROL_URL']}/unload", json={"model": name}, timeout=60)
        loads_before = ManagedProcess.objects.count()
        started = time.monotonic()
        with transaction.atomic():  # queued together, as runs waiting on a busy host would be
            ids = [
                request_completion(
                    route=name,
                    messages=[Message(role="user", content=f"Run {run}: the statement was signed")],
                    stage="bench",
                    max_tokens=2,
                ).pk
                for run in range(args.runs)
                for name in names
            ]

        def done() -> bool:
            return not LLMCall.objects.filter(pk__in=ids, status__in=[CallStatus.QUEUED, CallStatus.RUNNING]).exists()

        wait_for(done, 1800, f"the {dispatch} calls")
        failed = LLMCall.objects.filter(pk__in=ids, status=CallStatus.FAILED).count()
        if failed:
            print(f"{dispatch}: {failed} calls failed", file=sys.stderr)
        return ManagedProcess.objects.count() - loads_before, time.monotonic() - started

    try:
        stack.ensure_modelhost("local", os.environ["LLAMACPP_CONTROL_URL"])
        stack.start_worker("swaps-gpu-local", ["gpu.local"], concurrency=1)
        wait_for(lambda: workers_for({"gpu.local"}) == {"gpu.local"}, 60, "the GPU worker")
        fifo_loads, fifo_seconds = phase("fifo")
        grouped_loads, grouped_seconds = phase("grouped")
    finally:
        stack.stop()
    print(
        f"{args.runs} runs x {args.models} models: FIFO {fifo_loads} loads in {fifo_seconds:.1f}s, "
        f"grouped {grouped_loads} loads in {grouped_seconds:.1f}s (goal: grouped <= {args.models})",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "fifo_loads": fifo_loads,
                "grouped_loads": grouped_loads,
                "fifo_seconds": round(fifo_seconds, 1),
                "grouped_seconds": round(grouped_seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
