"""Tasks for the crash-safety tests, loaded only into workers those tests start (`--include`)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from celery import shared_task


@shared_task(name="crashtest.mark", acks_late=True, reject_on_worker_lost=True)
def mark(directory: str, n: int, poison: bool = False, sleep_s: float = 0.0) -> None:
    """Append this process's pid to `<directory>/<n>`: one line per time the task ran to its end.
    A poison task kills the process running it, every time, before it ends."""
    if poison:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(sleep_s)
    with (Path(directory) / str(n)).open("a") as marks:
        marks.write(f"{os.getpid()}\n")
