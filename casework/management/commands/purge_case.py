from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casework.models import Case
from casework.purge import PurgeRefused, check_purgeable, do_purge_case


class Command(BaseCommand):
    help = (
        "Remove a case's text everywhere Affiant keeps it: stored files, pages, chunks, its search index, its "
        "parties and title, its runs and every version of their drafts, and the messages and outputs of its model "
        "calls. The case row and its audit trail stay (the trail holds no case text); the purge is recorded in it. "
        'Refused while the case has work in progress. Prints {"documents", "runs", "calls"}.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case", type=int, required=True, metavar="ID")
        parser.add_argument(
            "--no-input", "--noinput", action="store_false", dest="interactive", help="do not ask to confirm"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        case = Case.objects.filter(pk=options["case"]).first()
        if case is None:
            raise CommandError(f"no case {options['case']}")
        try:
            check_purgeable(case)
        except PurgeRefused as exc:
            raise CommandError(str(exc)) from exc
        question = f"Purge case {case.pk}? None of its text can be recovered. [y/N] "
        if options["interactive"] and input(question).strip().lower() != "y":
            raise CommandError("purge cancelled")
        report = do_purge_case(case)
        self.stdout.write(json.dumps({"documents": report.documents, "runs": report.runs, "calls": report.calls}))
