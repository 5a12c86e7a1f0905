"""Watching a stream as it arrives: deadlines on a watchdog thread, and loop detectors.

The watchdog never waits for the host to answer: it cuts the connection itself the moment a
deadline passes, so a stalled stream is seen within its gap deadline plus one check interval.

A loop in free text is one word n-gram seen too often. An answer under a JSON schema is read by its
structure instead: one value given for several keys is a valid answer (the same "not stated" for four
questions, one fact answering four needs), bounded by the grammar and the output cap, so only what no
valid answer does counts as a loop there: a string value repeating itself, an array or object growing
past its schema, or the same object over and over (hosts without grammars may not hold to the schema).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

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


class StreamLoopDetector(Protocol):
    def feed(self, text: str) -> bool: ...


def loop_detector_for(json_schema: dict[str, Any] | None) -> StreamLoopDetector:
    """The detector for one call: by structure when its answer follows a schema, by n-grams otherwise."""
    return JsonLoopDetector(json_schema) if json_schema is not None else LoopDetector()


# The same array item (an object, or a long string) this many times is a loop whatever the schema says.
SAME_ITEM_REPEATS = 5
# A string item shorter than this may well repeat in a valid answer (a label, an empty note).
_SAME_ITEM_MIN_CHARS = 24
# A string value this many times past its schema's maxLength is running away (non-grammar hosts).
_RUNAWAY_FACTOR = 4


@dataclass
class _Container:
    """An object or array still open in the answer, with what its schema allows."""

    kind: str  # "{" or "["
    schema: dict[str, Any] | None
    limit: int | None  # maxItems, or the most members an object may have
    count: int = 0
    expect_key: bool = True  # objects: the next string is a key
    key: str = ""
    item_open: bool = False  # arrays: an item has begun and not ended
    item_start: int = 0
    seen: Counter[str] = field(default_factory=Counter)


def _sub_schema(schema: dict[str, Any] | None, *, key: str | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    if key is None:
        items = schema.get("items")
        return items if isinstance(items, dict) else None
    properties = schema.get("properties") or {}
    if key in properties and isinstance(properties[key], dict):
        return properties[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _limit(kind: str, schema: dict[str, Any] | None) -> int | None:
    if schema is None:
        return None
    if kind == "[":
        return schema.get("maxItems") if isinstance(schema.get("maxItems"), int) else None
    if isinstance(schema.get("maxProperties"), int):
        return int(schema["maxProperties"])
    properties = schema.get("properties")
    if schema.get("additionalProperties") is False and isinstance(properties, dict):
        return len(properties)
    return None


class JsonLoopDetector:
    """Notices a loop in a JSON answer as it streams, by its structure (see the module's docstring).

    One pass over each delta's characters with a small state machine: no parsing of the whole answer
    per delta. Text before and after the JSON (a chatty preamble) is watched as free text."""

    def __init__(self, schema: dict[str, Any] | None) -> None:
        self.schema = schema
        self._stack: list[_Container] = []
        self._raw = ""
        self._roots: Counter[str] = Counter()
        self._root_start = 0
        self._outside = LoopDetector()
        self._in_string = False
        self._escape = False
        self._string_is_key = False
        self._key: list[str] = []
        self._value: LoopDetector | None = None
        self._value_text: list[str] = []
        self._value_length = 0
        self._value_cap: int | None = None

    def feed(self, text: str) -> bool:
        """Add streamed text; True once the answer is looping."""
        start = len(self._raw)
        self._raw += text
        outside: list[str] = []
        for offset, char in enumerate(text):
            if self._step(char, start + offset, outside):
                return True
        if outside and self._outside.feed("".join(outside)):
            return True
        return self._flush_value()

    def _step(self, char: str, position: int, outside: list[str]) -> bool:
        if self._in_string:
            return self._string_char(char)
        if not self._stack:
            if char in "{[":
                self._root_start = position
                return self._open(char, None)
            outside.append(char)
            return False
        top = self._stack[-1]
        if char in " \t\r\n":
            return False
        if top.kind == "{":
            if char == '"' and top.expect_key:
                self._in_string, self._string_is_key, self._key = True, True, []
                return False
            if char == ",":
                top.expect_key = True
                return False
            if char == "}":
                return self._close(position)
            if char == ":":
                return False
            return self._value_start(char, _sub_schema(top.schema, key=top.key))
        # An array.
        if char == ",":
            return self._item_end(top, position)
        if char == "]":
            return (top.item_open and self._item_end(top, position)) or self._close(position)
        if not top.item_open:
            top.item_open, top.item_start = True, position
            top.count += 1
            if top.limit is not None and top.count > top.limit:
                return True
        return self._value_start(char, _sub_schema(top.schema, key=None))

    def _value_start(self, char: str, schema: dict[str, Any] | None) -> bool:
        if char in "{[":
            return self._open(char, schema)
        if char == '"':
            self._in_string, self._string_is_key = True, False
            self._value = LoopDetector()
            self._value_length = 0
            cap = schema.get("maxLength") if schema is not None else None
            self._value_cap = _RUNAWAY_FACTOR * cap if isinstance(cap, int) else None
        return False  # numbers, true, false, null: nothing to watch

    def _open(self, char: str, schema: dict[str, Any] | None) -> bool:
        if not self._stack:
            schema = self.schema
        self._stack.append(_Container(kind=char, schema=schema, limit=_limit(char, schema)))
        return False

    def _close(self, position: int) -> bool:
        self._stack.pop()
        if self._stack:
            return False
        # The whole answer again, as a host without a grammar may send it.
        self._roots[self._raw[self._root_start : position + 1]] += 1
        return max(self._roots.values()) >= SAME_ITEM_REPEATS

    def _item_end(self, array: _Container, position: int) -> bool:
        item = self._raw[array.item_start : position].strip()
        array.item_open = False
        if item[:1] in "{[" or len(item) >= _SAME_ITEM_MIN_CHARS:
            array.seen[" ".join(item.split())] += 1
            return array.seen[" ".join(item.split())] >= SAME_ITEM_REPEATS
        return False

    def _string_char(self, char: str) -> bool:
        if self._escape:
            self._escape = False
            decoded = " " if char in "ntr" else char
        elif char == "\\":
            self._escape = True
            return False
        elif char == '"':
            return self._string_end()
        else:
            decoded = char
        if self._string_is_key:
            self._key.append(decoded)
            return False
        self._value_text.append(decoded)
        self._value_length += 1
        return self._value_cap is not None and self._value_length > self._value_cap

    def _string_end(self) -> bool:
        self._in_string = False
        if self._string_is_key:
            top = self._stack[-1]
            top.key, top.expect_key = "".join(self._key), False
            top.count += 1
            return top.limit is not None and top.count > top.limit
        self._value_text.append(" ")  # the value's last word is complete
        looping = self._flush_value()
        self._value = None
        return looping

    def _flush_value(self) -> bool:
        if self._value is None or not self._value_text:
            return False
        text, self._value_text = "".join(self._value_text), []
        return self._value.feed(text)
