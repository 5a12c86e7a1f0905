"""Work repeated on a daemon thread of a worker's main process: heartbeats and reconcilers.

The main process outlives any Celery child (a hard time limit kills children), so what must keep
going runs here. A failed round is logged and the next one tries again; a round never stops the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from celery.signals import worker_ready
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)


class Periodic:
    def __init__(
        self, *, name: str, work: Callable[[], object], interval_s: Callable[[], float], run_first: bool = False
    ) -> None:
        """`interval_s` is asked before each wait, so a changed setting takes effect at the next round."""
        self.name = name
        self._work = work
        self._interval_s = interval_s
        self._run_first = run_first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _round(self) -> None:
        try:
            self._work()
        except Exception:  # logged; the next round tries again
            logger.exception("periodic work failed", extra={"periodic": self.name})
        finally:
            close_old_connections()

    def _run(self) -> None:
        if self._run_first:
            self._round()
        while not self._stop.wait(self._interval_s()):
            self._round()


_started: list[Periodic] = []  # kept alive for the worker's life


def reconcile_on_default_worker(name: str, work: Callable[[], object]) -> None:
    """Run `work` every LLMOPS_RECONCILE_S in the main process of each worker that consumes the `default`
    queue, from the moment it is ready. The apps' reconcilers (calls, documents, runs) register here."""

    def start(sender: Any = None, **kwargs: Any) -> None:
        if sender is not None and "default" in (sender.app.amqp.queues.consume_from or {}):
            _started.append(Periodic(name=name, work=work, interval_s=lambda: settings.LLMOPS_RECONCILE_S).start())

    worker_ready.connect(start, weak=False, dispatch_uid=name)
