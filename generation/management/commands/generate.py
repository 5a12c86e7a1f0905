from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casework.models import Case
from generation.declarations import TEMPLATES
from generation.headless import generate


class Command(BaseCommand):
    help = (
        "Draft a case's declaration through all five stages on the real queues, starting the workers "
        "(and embedded Redis, model hosts) when none are running; prints progress to stderr as it runs and one "
        "JSON line last on stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", type=int, required=True, help="the case's id")
        parser.add_argument("--template", choices=sorted(TEMPLATES), help="default: from the case's type")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the run")

    def handle(self, *args: Any, **options: Any) -> None:
        def case_for() -> Case:
            case = Case.objects.filter(pk=options["case"]).first()
            if case is None:
                raise CommandError(f"no case with id {options['case']}")
            return case

        run, summary = generate(
            case_for=case_for,
            template=options["template"],
            created_by=lambda case: None,
            timeout=options["timeout"],
        )
        self.stdout.write(json.dumps(summary))
        if run.status != "completed":
            sys.exit(1)
