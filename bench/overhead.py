"""What the runner costs on top of the model: the same prompts, interleaved, four ways in one run.

    .venv/bin/python bench/overhead.py [--prompts 20] [--max-tokens 16]

1. direct: streamed straight from the managed llama.cpp server over HTTP (the baseline);
2. in-process: through the runner in this process (deadlines, loop check, context guard, the call's
   database record, its log line);
3. queue: through the Celery GPU queue and a worker, waiting on the call's record;
4. litellm: LiteLLM's SDK streaming from the same server (skipped if the `bench` extra is not installed).

Overhead is each way's wall time minus the direct time for the same prompt (paired, so the model's
own time cancels out). It prints p50/p95 overhead in ms, as a share of model time, and ours as a
ratio of LiteLLM's; the last line is one JSON object. Runs on its own SQLite database and embedded
Redis under a temporary directory, and stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.isolated import start_isolated_stack

PROMPTS = [
    "The police report says that on February 9, 2019",
    "My mother raised three children in Quetzaltenango and",
    "We signed the lease for the apartment in August 2016 because",
    "The protective order was effective from March 14, 2019 and",
    "At the hospital the doctor examined my neck and",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()

    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # no network here: LiteLLM must not fetch prices
    stack = start_isolated_stack(redis_port=6394, control_port=8794, worker="bench-gpu-local")

    import httpx

    from llmops.calls import dispatch_locally, request_completion
    from llmops.control import control_headers
    from llmops.models import CallStatus, LLMCall
    from llmops.providers.base import Message
    from llmops.providers.llamacpp import render_prompt
    from llmops.runner import drain
    from llmops.stats import percentile

    try:
        control = os.environ["LLAMACPP_CONTROL_URL"]
        ensure = {"model": "local-drafter"}
        ensured = httpx.post(f"{control}/ensure", json=ensure, headers=control_headers(), timeout=120)
        port = ensured.json()["port"]
        base = f"http://127.0.0.1:{port}"
        params = {"max_tokens": args.max_tokens, "temperature": 0.0, "seed": 1, "repeat_penalty": 1.15}

        def messages(prompt: str) -> list[Message]:
            return [Message(role="user", content=prompt)]

        # The baseline keeps one client for the run, as the runner does: building an httpx client per
        # request costs milliseconds of TLS setup that would flatter every other way.
        direct_client = httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))

        def direct(prompt: str) -> None:
            body = {"prompt": render_prompt(tuple(messages(prompt))), "stream": True, **params}
            with direct_client.stream("POST", f"{base}/v1/completions", json=body) as r:
                for _ in r.iter_lines():
                    pass

        def in_process(prompt: str) -> None:
            with dispatch_locally() as pending:
                request_completion(
                    route="draft", messages=messages(prompt), stage="bench", max_tokens=args.max_tokens, temperature=0.0
                )
                last = drain(pending)
            assert last is not None and last.status == CallStatus.COMPLETED, last and last.error

        def queued(prompt: str) -> None:
            call = request_completion(
                route="draft", messages=messages(prompt), stage="bench", max_tokens=args.max_tokens, temperature=0.0
            )
            while True:
                status = LLMCall.objects.filter(pk=call.pk).values_list("status", flat=True).first()
                if status in (CallStatus.COMPLETED, CallStatus.FAILED):
                    assert status == CallStatus.COMPLETED
                    return
                time.sleep(0.002)

        ways: dict[str, Callable[[str], None]] = {"direct": direct, "in_process": in_process, "queue": queued}
        try:
            import litellm

            def via_litellm(prompt: str) -> None:
                stream = litellm.text_completion(
                    model="text-completion-openai/local-drafter",
                    api_base=f"{base}/v1",
                    api_key="none",
                    prompt=render_prompt(tuple(messages(prompt))),
                    stream=True,
                    **params,
                )
                for _ in stream:
                    pass

            ways["litellm"] = via_litellm
        except ImportError:
            print("litellm is not installed (pip install -e '.[bench]'): skipping it", file=sys.stderr)

        for way in ways.values():  # warm every path once: imports, connections, the model's cache
            way(PROMPTS[0])
        times: dict[str, list[float]] = {name: [] for name in ways}
        names = list(ways)
        for i in range(args.prompts):
            prompt = PROMPTS[i % len(PROMPTS)]
            order = names[i % len(names) :] + names[: i % len(names)]  # rotate so no way always goes first
            for name in order:
                started = time.perf_counter()
                ways[name](prompt)
                times[name].append(time.perf_counter() - started)
    finally:
        stack.stop()

    model_p50 = statistics.median(times["direct"])
    result: dict[str, float] = {"prompts": args.prompts, "direct_p50_ms": round(model_p50 * 1000, 1)}
    print(f"direct (model time): p50 {model_p50 * 1000:.1f} ms over {args.prompts} prompts")
    for name in names[1:]:
        overhead = [(t - d) * 1000 for t, d in zip(times[name], times["direct"], strict=True)]
        p50, p95 = percentile(overhead, 0.5) or 0.0, percentile(overhead, 0.95) or 0.0
        result[f"{name}_overhead_p50_ms"] = round(p50, 2)
        result[f"{name}_overhead_p95_ms"] = round(p95, 2)
        share = p50 / (model_p50 * 1000)
        print(f"{name:>10}: overhead p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({share:.1%} of model time)")
    if "litellm" in ways and result["litellm_overhead_p50_ms"] > 0:
        ratio = result["in_process_overhead_p50_ms"] / result["litellm_overhead_p50_ms"]
        result["in_process_vs_litellm_p50"] = round(ratio, 2)
        print(f"in-process overhead is {ratio:.2f}x LiteLLM's (goal: <= 0.5x)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
