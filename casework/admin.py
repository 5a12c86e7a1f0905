from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, User
from django_otp.plugins.otp_totp import admin as totp_admin
from django_otp.plugins.otp_totp.models import TOTPDevice

from casework.admin_audit import AuditedAdmin
from casework.models import AuditEvent, Firm, Membership


@admin.register(Firm)
class FirmAdmin(AuditedAdmin):
    list_display = ["name", "created_at"]


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "firm", "role"]
    list_filter = ["role", "firm"]


# Django's and django-otp's own admins, with their changes written to the trail: users (passwords, staff and
# superuser flags), groups (permissions) and authenticator devices (a lost phone is reset by deleting one).
admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.unregister(TOTPDevice)


@admin.register(User)
class UserAdmin(AuditedAdmin, auth_admin.UserAdmin):
    pass


@admin.register(Group)
class GroupAdmin(AuditedAdmin, auth_admin.GroupAdmin):
    pass


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(AuditedAdmin, totp_admin.TOTPDeviceAdmin):
    pass


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
