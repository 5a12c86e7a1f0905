"""A cap on how many times one task message is delivered (Celery on Redis has none of its own).

With late acknowledgement, a message whose worker dies comes back; one that kills every worker it
reaches (a crash in native code, memory it cannot have) would come back for ever. Every task of the
app counts its deliveries in the database before it runs and clears the count when it ends, however it
ends; a message delivered more than AFFIANT_TASK_MAX_DELIVERIES times without ending is quarantined: it
is acknowledged without running, kept in `TaskDelivery` with the ids among its arguments, and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from celery import Task
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger("config.deliveries")


class CappedTask(Task):
    """The base of every task of the Celery app (config/celery.py)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = getattr(self.request, "id", None)
        if not task_id or self.request.called_directly or getattr(self.request, "is_eager", False):
            return super().__call__(*args, **kwargs)  # called in-process: no message to count
        if not admit(task_id, self.name, ids_of(args, kwargs.values()), str(self.request.hostname or "")):
            return None
        try:
            return super().__call__(*args, **kwargs)
        finally:
            finished(task_id)


def ids_of(*groups: Iterable[Any]) -> list[int]:
    return [value for group in groups for value in group if isinstance(value, int) and not isinstance(value, bool)]


def admit(task_id: str, name: str, ids: list[int], worker: str) -> bool:
    """Count this delivery; False (and the message quarantined) when it is one too many."""
    from llmops.models import TaskDelivery

    with transaction.atomic():
        row, created = TaskDelivery.objects.select_for_update().get_or_create(
            task_id=task_id[:255], defaults={"name": name[:200], "ids": ids, "worker": worker[:200]}
        )
        if row.quarantined_at is not None:
            return False
        if not created:
            TaskDelivery.objects.filter(pk=row.pk).update(
                deliveries=F("deliveries") + 1, worker=worker[:200], last_at=timezone.now()
            )
            row.refresh_from_db()
        if row.deliveries <= settings.AFFIANT_TASK_MAX_DELIVERIES:
            return True
        row.quarantined_at = timezone.now()
        row.save(update_fields=["quarantined_at"])
    logger.error(
        "task quarantined",
        extra={"task": name, "task_id": task_id, "ids": ids, "deliveries": row.deliveries, "runs": row.deliveries - 1},
    )
    return False


def finished(task_id: str) -> None:
    from llmops.models import TaskDelivery

    TaskDelivery.objects.filter(task_id=task_id[:255], quarantined_at=None).delete()


def forget_stale() -> int:
    """Counts left by messages that will not come back (acknowledged after a hard time limit killed
    their child) are removed once they are older than twice the visibility timeout."""
    from llmops.models import TaskDelivery

    visibility = int(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))
    cutoff = timezone.now() - timedelta(seconds=2 * visibility)
    deleted, _ = TaskDelivery.objects.filter(quarantined_at=None, last_at__lt=cutoff).delete()
    return deleted
