from django.contrib import admin

from casework.models import AuditEvent, Firm, Membership


@admin.register(Firm)
class FirmAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "firm", "role"]
    list_filter = ["role", "firm"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: audit rows are never changed or removed through the application."""

    list_display = ["at", "actor", "action", "object_type", "object_id", "ip"]
    list_filter = ["action"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
