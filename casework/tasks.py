from __future__ import annotations

from celery import shared_task

from casework.ingest import ingest_document
from casework.reconcile import reconcile_documents
from config.periodic import reconcile_on_default_worker


@shared_task(name="casework.ingest_document", acks_late=True, reject_on_worker_lost=True)
def ingest_document_task(document_id: int, password: str | None = None) -> None:
    ingest_document(document_id, password=password)


# Documents a dead worker left half-read, or whose message was lost, are sent again.
reconcile_on_default_worker("casework-reconciler", reconcile_documents)
