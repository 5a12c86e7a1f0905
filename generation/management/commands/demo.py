from __future__ import annotations

import json
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from casework.demo import seed_demo
from generation.headless import generate


class Command(BaseCommand):
    help = (
        "Seed the demo case if needed, start what is not running (embedded Redis, workers, model host), "
        "draft the demo declaration through all five stages on the real queues and model, stop what it "
        "started, and print one JSON line (progress goes to stderr as it runs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--headless", action="store_true", help="run without the web server (required)")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the run")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["headless"]:
            raise CommandError("use `demo --headless`; `make run` starts the whole app with its web pages")
        run, summary = generate(
            case_for=seed_demo,
            template=None,
            created_by=lambda case: get_user_model().objects.get(username="attorney"),
            timeout=options["timeout"],
        )
        self.stdout.write(json.dumps(summary))
        if run.status != "completed":
            sys.exit(1)
