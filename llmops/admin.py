from django.contrib import admin

from llmops.models import Host, LLMModel, Route, RouteEntry


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "url", "external", "enabled"]


@admin.register(LLMModel)
class LLMModelAdmin(admin.ModelAdmin):
    list_display = ["name", "host", "remote_name", "context_length", "max_output_tokens", "enabled"]


class RouteEntryInline(admin.TabularInline):
    model = RouteEntry
    extra = 1


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    inlines = [RouteEntryInline]
