from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from casework.uploads import do_rotate_file_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored case file with the newest key in AFFIANT_FILE_KEYS (the first), and encrypt "
        "files an earlier version stored in plaintext. Safe to run again. Prints "
        '{"rotated", "encrypted", "current", "missing", "failed"}; exits non-zero when a file opens with no key.'
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = do_rotate_file_keys()
        self.stdout.write(
            json.dumps(
                {
                    "rotated": report.rotated,
                    "encrypted": report.encrypted,
                    "current": report.current,
                    "missing": report.missing,
                    "failed": len(report.failed),
                }
            )
        )
        if report.failed:
            ids = ", ".join(str(document_id) for document_id in report.failed)
            raise CommandError(
                f"{len(report.failed)} stored files open with no key in AFFIANT_FILE_KEYS (documents {ids}); "
                "keep every old key configured until they are resolved"
            )
