from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from casework.demo import DEMO_CASE_TITLE, demo_documents_pending
from casework.models import Case
from generation.pipeline import do_start_run


class Command(BaseCommand):
    help = "Start drafting the demo declaration once its documents are read, unless it already has a draft."

    def handle(self, *args: Any, **options: Any) -> None:
        case = Case.objects.filter(title=DEMO_CASE_TITLE).first()
        if case is None:
            raise CommandError("no demo case: run `manage.py seed_demo` first")
        if case.runs.exists():
            self.stdout.write(f"the demo case already has {case.runs.count()} draft(s)")
            return
        deadline = time.monotonic() + 180  # reading four short PDFs takes seconds; this is a broken worker
        while demo_documents_pending(case):
            if time.monotonic() > deadline:
                raise CommandError("the demo documents were not read within 180s; is the default worker running?")
            time.sleep(0.5)
        run = do_start_run(case=case, created_by=User.objects.get(username="paralegal"))
        self.stdout.write(f"drafting the demo declaration: run {run.pk}")
