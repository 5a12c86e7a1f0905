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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.isolated import start_isolated_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--models", type=int, default=4)
    args = parser.parse_args()

    stack = start_isolated_stack(redis_port=6395, control_port=8795, worker="swaps-gpu-local")

    import httpx
    from django.db import transaction

    from config.stack import wait_for
    from llmops.calls import request_completion
    from llmops.control import control_headers
    from llmops.models import CallStatus, Host, LLMCall, LLMModel, ManagedProcess, Route, RouteEntry
    from llmops.providers.base import Message

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
            control = f"{os.environ['LLAMACPP_CONTROL_URL']}/unload"
            httpx.post(control, json={"model": name}, headers=control_headers(), timeout=60)
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
