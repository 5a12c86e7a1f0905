"""Changes made in the Django admin, written to the append-only audit trail as well as to django_admin_log.

django_admin_log is an ordinary table, which any code may update or empty; the trail refuses both. Each row says
who, when, from where, which object and, for a change, which field (one row per field); never a value, since a
header may carry a key and a user's row holds the password hash.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import capfirst, slugify

from casework import audit
from casework.models import AuditEvent

ADDED = "admin_add"
CHANGED = "admin_change"
DELETED = "admin_delete"
_ACTION_LENGTH = AuditEvent._meta.get_field("action").max_length or 50


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose additions, changes (the password form's included) and deletions reach the trail.

    Django calls these three hooks for every change it writes to django_admin_log, inside the same transaction.
    """

    def log_addition(self, request: HttpRequest, obj: models.Model, message: Any) -> LogEntry:
        audit.record(request=request, action=ADDED, obj=obj, case=None)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: models.Model, message: Any) -> LogEntry:
        # A message that names no field (a save that changed nothing, or one in words) still gets its row.
        actions = [f"{CHANGED}:{field}"[:_ACTION_LENGTH] for field in changed_fields(obj, message)] or [CHANGED]
        for action in actions:
            audit.record(request=request, action=action, obj=obj, case=None)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[LogEntry]:
        for obj in queryset:
            audit.record(request=request, action=DELETED, obj=obj, case=None)
        return super().log_deletions(request, queryset)


def changed_fields(obj: models.Model, message: Any) -> list[str]:
    """The fields a change message names, as field names: Django writes the form's labels, and inline rows
    added, changed or removed by their model's name (never the row itself, whose text may be a value)."""
    names: dict[str, None] = {}
    for entry in message if isinstance(message, list) else []:
        for detail in entry.values():
            if "name" in detail:
                names[_snake(detail["name"])] = None
            else:
                names.update(dict.fromkeys(_field_name(obj, label) for label in detail.get("fields", [])))
    return list(names)


def _field_name(obj: models.Model, label: str) -> str:
    fields = [*obj._meta.concrete_fields, *obj._meta.many_to_many]
    by_label = {str(capfirst(field.verbose_name)): field.name for field in fields}
    return by_label.get(label, _snake(label))


def _snake(text: str) -> str:
    return slugify(text).replace("-", "_")
