"""Documents a dead worker left half-read: read again, up to a bound, then set aside with a reason.

With late acknowledgement a killed worker's message comes back, but the document is already claimed
(`processing`), so the redelivery does nothing. Past the parse time limit plus a margin, the document
is queued again; a file that has taken down a worker AFFIANT_INGEST_MAX_ATTEMPTS times is rejected
rather than tried for ever (the poison file is quarantined, the rest of the queue goes on).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from casework.models import Document, DocumentStatus

logger = logging.getLogger(__name__)

# Beyond the parse limit: indexing and PII screening of a long document, and the worker's own clean-up.
_MARGIN_S = 300
QUARANTINE_REASON = "Reading this file stopped the worker {n} times; it is set aside. Try a re-saved copy."


def reconcile_documents() -> tuple[int, int]:
    """Returns (queued again, rejected)."""
    stale = timezone.now() - timedelta(seconds=settings.AFFIANT_PARSE_TIMEOUT_S + _MARGIN_S)
    requeued = rejected = 0
    for document in Document.objects.filter(status=DocumentStatus.PROCESSING, claimed_at__lt=stale):
        if document.attempts >= settings.AFFIANT_INGEST_MAX_ATTEMPTS:
            rejected += Document.objects.filter(pk=document.pk, status=DocumentStatus.PROCESSING).update(
                status=DocumentStatus.REJECTED,
                error=QUARANTINE_REASON.format(n=document.attempts),
                processed_at=timezone.now(),
            )
            continue
        if Document.objects.filter(pk=document.pk, status=DocumentStatus.PROCESSING).update(
            status=DocumentStatus.QUEUED, queued_at=timezone.now()
        ):
            _send(document.pk)
            requeued += 1
    # Queued, and still not taken long after it was sent: its message was lost (a broker restarted
    # without its data, a connection cut mid-delivery). Sent again; claiming makes a duplicate harmless.
    for document_id in Document.objects.filter(status=DocumentStatus.QUEUED, queued_at__lt=stale).values_list(
        "pk", flat=True
    ):
        if Document.objects.filter(pk=document_id, status=DocumentStatus.QUEUED).update(queued_at=timezone.now()):
            _send(document_id)
            requeued += 1
    if requeued or rejected:
        logger.info("documents reconciled", extra={"requeued": requeued, "rejected": rejected})
    return requeued, rejected


def _send(document_id: int) -> None:
    from casework.tasks import ingest_document_task

    transaction.on_commit(lambda: ingest_document_task.delay(document_id))
