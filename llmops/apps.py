from django.apps import AppConfig


class LlmopsConfig(AppConfig):
    name = "llmops"
    verbose_name = "LLM operations"
    default_auto_field = "django.db.models.BigAutoField"
