from __future__ import annotations

from celery import shared_task

from casework.ingest import ingest_document


@shared_task(name="casework.ingest_document", acks_late=True)
def ingest_document_task(document_id: int, password: str | None = None) -> None:
    ingest_document(document_id, password=password)
