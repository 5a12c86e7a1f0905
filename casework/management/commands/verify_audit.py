from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casework.audit import chained_rows, first_break
from casework.models import AuditEvent


class Command(BaseCommand):
    help = (
        "Check that every audit row follows the one before it and matches its hash; exits non-zero naming the "
        "first row that does not. Prints the head (last row id and hash): keep it outside the database and "
        "pass it as --anchor later, which also catches rows removed from the end or a chain recomputed whole."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--anchor", metavar="ID:HASH", help="a head printed by an earlier run")

    def handle(self, *args: Any, **options: Any) -> None:
        broken = first_break(chained_rows())
        if broken is not None:
            raise CommandError(f"audit row {broken.row_id}: {broken.reason}")
        if options["anchor"]:
            self._check_anchor(options["anchor"])
        head = AuditEvent.objects.order_by("-id").values_list("id", "row_hash").first()
        count = AuditEvent.objects.count()
        self.stdout.write(f"audit chain holds: {count} rows; head {head[0]}:{head[1]}" if head else "audit trail empty")

    def _check_anchor(self, anchor: str) -> None:
        row_id, _, row_hash = anchor.partition(":")
        if not row_id.isdigit() or not row_hash:
            raise CommandError(f"--anchor {anchor!r}: expected ID:HASH as this command prints it")
        stored = AuditEvent.objects.filter(pk=int(row_id)).values_list("row_hash", flat=True).first()
        if stored is None:
            raise CommandError(f"audit row {row_id}: the anchored row is gone: it was removed, or the table emptied")
        if stored != row_hash:
            raise CommandError(f"audit row {row_id}: its hash is not the anchor's: the chain was rewritten")
