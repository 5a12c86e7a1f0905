"""GPU check for the heartbeat's NVML readings (run on a machine with an NVIDIA GPU; no Django needed).

    python3 bench/gpu_check.py [--gib 4] [--hold 3] [--out DIR]

Samples used/total memory with `llmops.gpu.read_gpus` (the heartbeat's own reader) every 100 ms while a
child process allocates a few GiB with torch, holds them, and exits; reports when the rise was seen
and how long the memory took to return to baseline (`llmops.gpu.wait_for_memory_back`, the unload
check). Prints one JSON line and writes it to DIR/gpu_check.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmops.gpu import process_gpu_memory, read_gpus, wait_for_memory_back

GIB = 1024**3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--hold", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    readings = read_gpus()
    if not readings:
        print(json.dumps({"gpu": None, "error": "no NVIDIA GPU visible to NVML"}))
        sys.exit(1)
    gpu = readings[0]
    baseline = gpu.used_bytes
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    t0 = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            now = read_gpus()
            if now:
                samples.append((time.monotonic() - t0, now[0].used_bytes))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    child_code = (
        "import sys, time, torch\n"
        f"x = torch.empty(int({args.gib} * 2**30), dtype=torch.uint8, device='cuda')\n"
        "x.fill_(1); torch.cuda.synchronize()\n"
        "print('allocated', flush=True)\n"
        f"time.sleep({args.hold})\n"
    )
    started = time.monotonic() - t0
    child = subprocess.Popen([sys.executable, "-c", child_code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    child.stdout.readline()  # "allocated"
    allocated_at = time.monotonic() - t0
    held_by_child = process_gpu_memory(child.pid)
    child.wait()
    exited_at = time.monotonic() - t0
    back_after = wait_for_memory_back(
        gpu_index=0, baseline_bytes=baseline, tolerance_bytes=256 * 1024**2, deadline_s=20
    )
    time.sleep(0.5)
    stop.set()
    sampler.join()

    rise_threshold = baseline + int(args.gib * GIB * 0.9)
    rise_seen = next((t for t, used in samples if used >= rise_threshold), None)
    peak = max(used for _, used in samples)
    result = {
        "gpu": gpu.name,
        "total_gib": round(gpu.total_bytes / GIB, 2),
        "baseline_used_gib": round(baseline / GIB, 3),
        "peak_used_gib": round(peak / GIB, 3),
        "rise_gib": round((peak - baseline) / GIB, 3),
        "asked_gib": args.gib,
        "child_held_gib_per_nvml": round(held_by_child / GIB, 3) if held_by_child is not None else None,
        "rise_seen_s_after_child_start": round(rise_seen - started, 2) if rise_seen is not None else None,
        "allocation_done_s_after_child_start": round(allocated_at - started, 2),
        "memory_back_s_after_child_exit": round(back_after, 2) if back_after is not None else None,
        "final_used_gib": round(samples[-1][1] / GIB, 3),
        "samples": len(samples),
        "utilization_pct": gpu.utilization_pct,
        "exited_at_s": round(exited_at, 2),
    }
    line = json.dumps(result)
    print(line)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_check.json").write_text(line + "\n")
        (args.out / "gpu_samples.csv").write_text("t_s,used_bytes\n" + "".join(f"{t:.2f},{u}\n" for t, u in samples))


if __name__ == "__main__":
    main()
