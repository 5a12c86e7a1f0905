"""The audit trail of privileged data: one row per view, download, edit and export."""

from __future__ import annotations

from django.db import models
from django.http import HttpRequest

from casework.models import AuditEvent, Case


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def record(*, request: HttpRequest, action: str, obj: models.Model, case: Case | None) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=request.user if request.user.is_authenticated else None,
        action=action,
        case=case,
        object_type=obj._meta.model_name or type(obj).__name__.lower(),
        object_id=str(obj.pk),
        ip=client_ip(request),
    )
