from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llmops.modelhost import ModelHostError, serve
from llmops.models import Host


class Command(BaseCommand):
    help = "Run the supervisor that owns a managed llama.cpp host's model processes (beside its GPU worker)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="local", help="name of a host of kind llamacpp")

    def handle(self, *args: Any, **options: Any) -> None:
        host = Host.objects.filter(name=options["host"]).first()
        if host is None:
            raise CommandError(f"no host named {options['host']!r}; load LLMOPS_CONFIG first")
        try:
            serve(host, log_dir=Path(settings.VAR_DIR) / "log")
        except (ModelHostError, OSError) as exc:
            raise CommandError(str(exc)) from exc
