from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from casework.ingest import ingest_document


@shared_task(name="casework.ingest_document", acks_late=True, reject_on_worker_lost=True)
def ingest_document_task(document_id: int, password: str | None = None) -> None:
    ingest_document(document_id, password=password)


_reconcilers: list[object] = []  # kept alive for the worker's life


@worker_ready.connect
def start_document_reconciler(sender: Any = None, **kwargs: Any) -> None:
    """The worker that reads documents (queue `default`) also finds the ones a dead worker left half-read."""
    if sender is not None and "default" in (sender.app.amqp.queues.consume_from or {}):
        from casework.reconcile import start_document_reconciler

        _reconcilers.append(start_document_reconciler())
