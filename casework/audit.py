"""The audit trail of privileged data: one row per view, download, upload, edit, approval and export.

A view records exactly once per request that shows or changes case data; an htmx poll that only
refreshes processing status (the case page's document table) records nothing, since the page it
refreshes was recorded when it was opened. Rows are only ever inserted: the model refuses updates
and deletes, and database triggers (migration 0005) refuse them from any other code.
"""

from __future__ import annotations

from django.db import models
from django.http import HttpRequest

from casework.models import AuditEvent, Case
from config.proxy import client_ip

__all__ = ["client_ip", "record"]


def record(*, request: HttpRequest, action: str, obj: models.Model, case: Case | None) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=request.user if request.user.is_authenticated else None,
        action=action,
        case=case,
        object_type=obj._meta.model_name or type(obj).__name__.lower(),
        object_id=str(obj.pk),
        ip=client_ip(request),
    )
