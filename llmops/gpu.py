"""Reading the GPUs of this box through NVML: used and total memory, utilisation, per device.

No Django here: the GPU worker's heartbeat calls it every few seconds, and a GPU check can run it
on a machine that has only nvidia-ml-py. On a box without an NVIDIA driver it says so (None), which
the ops pages show as "no GPU".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

_init_lock = threading.Lock()
_initialised = False


@dataclass(frozen=True)
class GpuReading:
    index: int
    name: str
    uuid: str
    used_bytes: int
    total_bytes: int
    utilization_pct: int | None

    @property
    def used_fraction(self) -> float:
        return self.used_bytes / self.total_bytes if self.total_bytes else 0.0


def _nvml() -> Any | None:
    """The pynvml module, initialised once per process; None where there is no driver or library."""
    global _initialised
    try:
        import pynvml
    except ImportError:
        return None
    with _init_lock:
        if not _initialised:
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError:
                return None
            _initialised = True
    return pynvml


def read_gpus() -> list[GpuReading] | None:
    """One reading per GPU, or None when this box has no NVIDIA GPU (or its driver is not loaded)."""
    nvml = _nvml()
    if nvml is None:
        return None
    readings = []
    try:
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                utilization: int | None = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except nvml.NVMLError:
                utilization = None  # some virtualised GPUs do not report it
            name = nvml.nvmlDeviceGetName(handle)
            uuid = nvml.nvmlDeviceGetUUID(handle)
            readings.append(
                GpuReading(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    uuid=uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                    used_bytes=int(memory.used),
                    total_bytes=int(memory.total),
                    utilization_pct=utilization,
                )
            )
    except nvml.NVMLError:
        return None
    return readings


def process_gpu_memory(pid: int) -> int | None:
    """GPU memory a process (and only it) holds across this box's GPUs, where the driver says."""
    nvml = _nvml()
    if nvml is None:
        return None
    total = 0
    found = False
    try:
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == pid and proc.usedGpuMemory is not None:
                    total += int(proc.usedGpuMemory)
                    found = True
    except nvml.NVMLError:
        return None
    return total if found else 0


def wait_for_memory_back(
    *, gpu_index: int, baseline_bytes: int, tolerance_bytes: int, deadline_s: float, interval_s: float = 0.1
) -> float | None:
    """Seconds until the GPU's used memory is back within `tolerance_bytes` of `baseline_bytes`, or None
    if it is not back by the deadline: how an unload is verified, since a process can end or a host can
    say "unloaded" while the memory stays taken."""
    import time

    started = time.monotonic()
    while True:
        readings = read_gpus()
        if readings is None or gpu_index >= len(readings):
            return None
        if readings[gpu_index].used_bytes <= baseline_bytes + tolerance_bytes:
            return time.monotonic() - started
        if time.monotonic() - started > deadline_s:
            return None
        time.sleep(interval_s)
