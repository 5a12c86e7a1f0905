from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llmops.catalog import CatalogError, load_catalog


class Command(BaseCommand):
    help = "Load hosts, models and routes from LLMOPS_CONFIG (or --file) into the database, idempotently."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"] or Path(settings.LLMOPS_CONFIG)
        try:
            summary = load_catalog(path)
        except CatalogError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        self.stdout.write(f"loaded {summary.hosts} hosts, {summary.models} models, {summary.routes} routes from {path}")
