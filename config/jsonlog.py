"""One JSON object per log line. Callers pass ids and timings in ``extra``; never case text."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; whatever else a caller put in ``extra`` is emitted as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Celery puts a task's arguments in the ``data`` of its records (received, succeeded, failed, retried). They may
# be private, so they are never written: the task's name and id, which stay, say which task it was.
_TASK_ARGUMENTS = frozenset({"args", "kwargs"})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if isinstance(payload.get("data"), dict):
            payload["data"] = {k: v for k, v in payload["data"].items() if k not in _TASK_ARGUMENTS}
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
