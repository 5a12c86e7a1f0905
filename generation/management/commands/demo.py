from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from casework.demo import demo_documents_pending, seed_demo
from config.stack import Stack, start_backend
from generation.models import DeclarationRun
from generation.pipeline import do_start_run
from generation.report import run_summary


class Command(BaseCommand):
    help = (
        "Seed the demo case if needed, start what is not running (embedded Redis, workers, model host), "
        "draft the demo declaration through the real queues and model, stop what it started, and print "
        "one JSON line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--headless", action="store_true", help="run without the web server (required)")
        parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the run")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["headless"]:
            raise CommandError("use `demo --headless`; `make run` starts the whole app with its web pages")
        started = time.monotonic()
        stack = Stack()
        try:
            stack.ensure_redis()
            call_command("migrate", interactive=False, verbosity=0)
            call_command("load_llmops", stdout=sys.stderr)
            start_backend(stack)
            case = seed_demo()
            _wait(lambda: demo_documents_pending(case) == 0, 180, "the demo documents to be read")
            attorney = get_user_model().objects.get(username="attorney")
            run = do_start_run(case=case, created_by=attorney)
            _wait(lambda: DeclarationRun.objects.get(pk=run.pk).is_finished, options["timeout"], "the run")
            run.refresh_from_db()
        finally:
            stack.stop()
        summary = run_summary(run)
        summary["seconds"] = round(time.monotonic() - started, 1)
        self.stdout.write(json.dumps(summary))
        if run.status != "completed":
            sys.exit(1)


def _wait(done: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(1)
    raise CommandError(f"timed out after {timeout:.0f}s waiting for {what}")
