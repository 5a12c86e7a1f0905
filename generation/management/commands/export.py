from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.export import declaration_docx, declaration_pdf, draft_mark
from generation.models import DeclarationRun


class Command(BaseCommand):
    help = (
        "Write the latest version of a run's declaration to a file (Word .docx or PDF); a version the attorney "
        "has not approved is marked DRAFT on every page."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, required=True)
        parser.add_argument("--format", choices=["docx", "pdf"], default="docx")
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        run = DeclarationRun.objects.filter(pk=options["run"]).first()
        if run is None:
            raise CommandError(f"no run {options['run']}")
        version = run.latest_version()
        if version is None:
            raise CommandError(f"run {run.pk} has no draft yet")
        write = declaration_pdf if options["format"] == "pdf" else declaration_docx
        options["out"].write_bytes(write(version))
        mark = draft_mark(version)
        if mark:
            self.stderr.write(
                f"warning: version {version.number} of run {run.pk} is not approved by an attorney; "
                f'every page is marked "{mark}"'
            )
        state = f'not approved, every page marked "{mark}"' if mark else "approved"
        self.stdout.write(f"wrote version {version.number} of run {run.pk} to {options['out']} ({state})")
