from __future__ import annotations

from celery import shared_task

from casework.ingest import ingest_document
from casework.pdf_passwords import remove_expired_passwords, take_password
from casework.reconcile import reconcile_documents
from config.periodic import reconcile_on_default_worker


@shared_task(name="casework.ingest_document", acks_late=True, reject_on_worker_lost=True)
def ingest_document_task(document_id: int, password_id: str | None = None) -> None:
    # An id, never the password: the broker keeps a task's arguments on disk (casework.pdf_passwords).
    ingest_document(document_id, password=take_password(password_id) if password_id else None)


# Documents a dead worker left half-read, or whose message was lost, are sent again.
reconcile_on_default_worker("casework-reconciler", reconcile_documents)
# Passwords held for a parse whose message was lost leave nothing behind.
reconcile_on_default_worker("casework-pdf-passwords", remove_expired_passwords)
