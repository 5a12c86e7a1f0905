"""Watching a stream as it arrives: deadlines on a watchdog thread, and a loop detector.

The watchdog never waits for the host to answer: it cuts the connection itself the moment a
deadline passes, so a stalled stream is seen within its gap deadline plus one check interval.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from types import TracebackType

from llmops.providers.base import CancelToken

# How often the watchdog looks at the clock; detection is at most this late.
_MAX_CHECK_INTERVAL_S = 0.25


class Watchdog:
    """Enforces first-token, between-token and total deadlines on one stream."""

    def __init__(self, *, cancel: CancelToken, first_token_s: float, stall_s: float, total_s: float) -> None:
        self.cancel = cancel
        self.first_token_s = first_token_s
        self.stall_s = stall_s
        self.total_s = total_s
        self.started = time.monotonic()
        self.last_progress: float | None = None
        self.detected_after_s: float | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="llm-watchdog", daemon=True)
        self._interval = min(_MAX_CHECK_INTERVAL_S, max(0.02, min(first_token_s, stall_s) / 10))

    def __enter__(self) -> Watchdog:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)

    def progress(self) -> None:
        self.last_progress = time.monotonic()

    @property
    def seen_first_token(self) -> bool:
        return self.last_progress is not None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self, now: float) -> tuple[str, float] | None:
        """The deadline that has passed at `now`, with how long the wait had lasted, if any."""
        total = now - self.started
        if total > self.total_s:
            return "total_timeout", total
        if self.last_progress is None:
            if total > self.first_token_s:
                return "first_token_timeout", total
        else:
            gap = now - self.last_progress
            if gap > self.stall_s:
                return "stall", gap
        return None

    def _watch(self) -> None:
        while not self._stopped.wait(self._interval):
            expired = self.check(time.monotonic())
            if expired is not None:
                kind, waited = expired
                self.detected_after_s = round(waited, 3)
                self.cancel.cancel(kind)
                return


class LoopDetector:
    """Notices a model repeating itself: one word n-gram seen too often within a recent window."""

    def __init__(self, *, ngram: int = 8, window: int = 240, max_repeats: int = 4) -> None:
        self.ngram = ngram
        self.window = window
        self.max_repeats = max_repeats
        self._words: deque[str] = deque()
        self._grams: deque[tuple[str, ...]] = deque()
        self._counts: Counter[tuple[str, ...]] = Counter()
        self._partial = ""

    def feed(self, text: str) -> bool:
        """Add streamed text; True once the output is looping."""
        self._partial += text
        # Only whole words count; the last piece may still be growing.
        cut = max(self._partial.rfind(" "), self._partial.rfind("\n"))
        if cut < 0:
            return False
        complete, self._partial = self._partial[:cut], self._partial[cut + 1 :]
        return any(self._add(word.lower()) for word in complete.split())

    def _add(self, word: str) -> bool:
        self._words.append(word)
        if len(self._words) > self.ngram + self.window:
            self._words.popleft()
        if len(self._words) < self.ngram:
            return False
        gram = tuple(list(self._words)[-self.ngram :])
        self._grams.append(gram)
        self._counts[gram] += 1
        if len(self._grams) > self.window:
            old = self._grams.popleft()
            self._counts[old] -= 1
        return self._counts[gram] >= self.max_repeats
