"""NVML readings on a box without an NVIDIA GPU (this one, and CI): "no GPU", never an error.

The readings on a real GPU are checked by bench/gpu_check.py on a machine that has one; its figures
are in bench/results/.
"""

from __future__ import annotations

import os

from llmops.gpu import process_gpu_memory, read_gpus, wait_for_memory_back


def test_a_box_without_a_gpu_reads_as_no_gpu() -> None:
    if os.path.exists("/dev/nvidiactl"):
        readings = read_gpus()
        assert readings and readings[0].total_bytes > 0
        return
    assert read_gpus() is None
    assert process_gpu_memory(os.getpid()) is None
    assert wait_for_memory_back(gpu_index=0, baseline_bytes=0, tolerance_bytes=0, deadline_s=0.1) is None
