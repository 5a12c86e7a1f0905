from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llmops.calls import NoModelAvailable, dispatch_locally, last_attempt, request_completion
from llmops.catalog import CatalogError, load_catalog
from llmops.models import CallStatus, LLMCall, Route
from llmops.providers.base import Message
from llmops.runner import drain


def describe_chain(last: LLMCall) -> dict[str, Any]:
    attempts = []
    for call in reversed(last.chain()):
        hang = call.hangs.first()
        attempts.append(
            {
                "model": call.model.name,
                "status": call.status,
                "hang": hang.kind if hang else None,
                "error": call.error_kind or None,
                "detected_after_s": hang.detected_after_s if hang else None,
            }
        )

    def seconds(value: Any) -> float | None:
        return round(value.total_seconds(), 3) if value is not None else None

    return {
        "status": last.status,
        "model": last.model.name,
        "text": last.output if last.status == CallStatus.COMPLETED else None,
        "error": last.error or None,
        "attempts": attempts,
        "timings": {
            "queue_wait_s": seconds(last.queue_wait),
            "first_token_s": seconds(last.time_to_first_token),
            "total_s": seconds(last.duration),
            "load_s": last.load_s,
            "prompt_eval_s": last.prompt_eval_s,
            "generation_s": last.generation_s,
            "prompt_tokens": last.prompt_tokens,
            "output_tokens": last.output_tokens,
            "tokens_per_s": last.tokens_per_second,
            "n_ctx": last.n_ctx,
            "done_reason": last.done_reason or None,
        },
    }


class Command(BaseCommand):
    help = (
        "Run one call through the runner (in this process by default; --queue sends it through Celery and "
        "waits) and print one JSON line with its outcome, attempts and timings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--route", required=True)
        parser.add_argument("--prompt", required=True)
        parser.add_argument("--max-tokens", type=int, default=None)
        parser.add_argument("--queue", action="store_true", help="send it through the Celery queue and wait")
        parser.add_argument("--timeout", type=float, default=900, help="seconds to wait with --queue")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            load_catalog(settings.LLMOPS_CONFIG)
        except CatalogError as exc:
            raise CommandError(f"{settings.LLMOPS_CONFIG}: {exc}") from exc
        if not Route.objects.filter(name=options["route"]).exists():
            raise CommandError(f"no route named {options['route']!r} in {settings.LLMOPS_CONFIG}")
        request = {
            "route": options["route"],
            "messages": [Message(role="user", content=options["prompt"])],
            "stage": "cli",
            "label": "llmcall command",
            "max_tokens": options["max_tokens"],
        }
        try:
            if options["queue"]:
                first = request_completion(**request)
                last = self._wait(first, options["timeout"])
            else:
                with dispatch_locally() as pending:
                    first = request_completion(**request)
                    last = drain(pending) or first
        except NoModelAvailable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(describe_chain(last)))

    @staticmethod
    def _wait(first: LLMCall, timeout: float) -> LLMCall:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = last_attempt(first.pk)
            if last.status in (CallStatus.COMPLETED, CallStatus.FAILED):
                return last
            time.sleep(0.2)
        raise CommandError(f"the call did not end within {timeout:.0f}s; is a worker consuming its queue?")
