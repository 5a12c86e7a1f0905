from django.contrib import admin
from django.http import HttpRequest

from casework.admin_audit import AuditedAdmin
from llmops.models import Host, LLMModel, Route, RouteEntry

# Set in the catalog (llmops/models.yaml, loaded by `manage.py load_llmops`) alone: where a host sends case text
# and which key it sends, whether that text is redacted first, and what runs on the GPU box. In the admin a staff
# user could otherwise point an internal host at a public address, or have a command of their choosing run.
CATALOG_ONLY = "Set in the catalog (llmops/models.yaml, then manage.py load_llmops); the catalog decides."


@admin.register(Host)
class HostAdmin(AuditedAdmin):
    list_display = ["name", "kind", "url", "external", "enabled"]
    readonly_fields = ("name", "kind", "url", "external", "api_key_env", "headers", "region", "restart_command")
    fieldsets = [
        (None, {"fields": ["enabled", "dispatch", "queue_name", "memory_budget_mb"]}),
        ("From the catalog", {"fields": readonly_fields, "description": CATALOG_ONLY}),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(LLMModel)
class LLMModelAdmin(AuditedAdmin):
    list_display = ["name", "host", "remote_name", "context_length", "max_output_tokens", "enabled"]
    # `pkg:<module>` imports that module on the GPU box, and a path is a file the model host opens.
    readonly_fields = ["gguf"]


class RouteEntryInline(admin.TabularInline):
    model = RouteEntry
    extra = 1


@admin.register(Route)
class RouteAdmin(AuditedAdmin):
    inlines = [RouteEntryInline]
