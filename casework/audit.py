"""The audit trail of privileged data: one row per view, download, upload, edit, approval and export.

A view records exactly once per request that shows or changes case data; an htmx poll that only
refreshes processing status (the case page's document table) records nothing, since the page it
refreshes was recorded when it was opened. Rows are only ever inserted: the model refuses updates
and deletes, and database triggers (migration 0005) refuse them from any other code.

The triggers stop the application, not the tables' owner: a migration run backwards drops them, and
TRUNCATE passes them. So each row also carries the hash of the row before it and a hash over that and
its own fields (`chain_hash`): a row changed or removed afterwards breaks the next link, which
`verify_audit` finds. Whoever can write the table could recompute every hash after it, so an operator
keeps the head that `verify_audit` prints somewhere else and checks it later (`--anchor`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from casework.models import AuditEvent, Case
from config.proxy import client_ip

__all__ = [
    "CHAINED_FIELDS",
    "GENESIS",
    "Break",
    "chain_hash",
    "chained_rows",
    "client_ip",
    "first_break",
    "record",
    "record_command",
]

# The prev_hash of the first row: there is no row before it.
GENESIS = "0" * 64
# What a row's hash covers: every column but its id (not known before the insert) and the hash itself.
CHAINED_FIELDS = ("prev_hash", "at", "actor_id", "action", "case_id", "object_type", "object_id", "ip")
# The key of the advisory lock on the chain's tail (PostgreSQL): "audit" in ASCII; the project takes no other.
_CHAIN_LOCK = 0x6175646974


def record(*, request: HttpRequest, action: str, obj: models.Model, case: Case | None) -> AuditEvent:
    return _append(
        actor_id=request.user.pk if request.user.is_authenticated else None,
        action=action,
        obj=obj,
        case=case,
        ip=client_ip(request),
    )


def record_command(*, action: str, obj: models.Model, case: Case | None) -> AuditEvent:
    """A row for what an operator did from the command line (`manage.py purge_case`): no user, no address."""
    return _append(actor_id=None, action=action, obj=obj, case=case, ip=None)


def _append(*, actor_id: int | None, action: str, obj: models.Model, case: Case | None, ip: str | None) -> AuditEvent:
    """Insert a row chained to the last one, one writer at a time, or two rows would name the same
    predecessor and fork the chain.

    PostgreSQL: a transaction-scoped advisory lock, held until the row commits (a row lock on the last
    row would not do: the second writer would go on to follow the row the first one just followed).
    SQLite takes its write lock when the transaction begins (`transaction_mode` IMMEDIATE in settings);
    without it, a writer that read a tail another has since extended fails on its insert, and forks nothing.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        last = AuditEvent.objects.order_by("-id").values_list("row_hash", flat=True).first()
        fields = {
            "prev_hash": last or GENESIS,
            "at": timezone.now(),
            "actor_id": actor_id,
            "action": action,
            "case_id": case.pk if case else None,
            "object_type": obj._meta.model_name or type(obj).__name__.lower(),
            "object_id": str(obj.pk),
            "ip": ip,
        }
        return AuditEvent.objects.create(**fields, row_hash=chain_hash(fields))


def chain_hash(row: Mapping[str, Any]) -> str:
    """sha256 over a row's CHAINED_FIELDS (the previous row's hash among them), written the same way
    whatever the database gives back: the time in UTC to the microsecond, the address in its normal form.

    Migration 0007 filled the rows before it with this function: changing how it writes a row breaks
    every row already written.
    """
    canonical = {name: row[name] for name in CHAINED_FIELDS}
    canonical["at"] = row["at"].astimezone(UTC).isoformat(timespec="microseconds")
    canonical["ip"] = str(ipaddress.ip_address(row["ip"])) if row["ip"] else None
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first row whose link does not hold, and why."""

    row_id: int
    reason: str


def chained_rows() -> Iterator[dict[str, Any]]:
    """Every row's id, hash and CHAINED_FIELDS, in the order they were written, read in batches."""
    return AuditEvent.objects.order_by("id").values("id", "row_hash", *CHAINED_FIELDS).iterator(chunk_size=2000)


def first_break(rows: Iterable[Mapping[str, Any]]) -> Break | None:
    """The first row (in id order) that does not follow the one before it or whose hash does not match
    its fields; None when the chain holds."""
    expected, previous = GENESIS, "the start of the trail"
    for row in rows:
        if row["prev_hash"] != expected:
            reason = f"its prev_hash is not the hash of {previous}: a row between them was removed, or a hash rewritten"
            return Break(row["id"], reason)
        if chain_hash(row) != row["row_hash"]:
            return Break(row["id"], "its fields do not match its hash: it was changed after it was written")
        expected, previous = row["row_hash"], f"row {row['id']}"
    return None
