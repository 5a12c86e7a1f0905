"""What the append-only tests of the audit and ops-action tables share: asking the database itself."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, connection, transaction


def refused(sql: str, params: list[Any]) -> bool:
    """Whether the database refuses the statement (in a savepoint, so the test's transaction goes on)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except IntegrityError:
        return True
    return False


def triggers_on(table: str) -> list[str]:
    if connection.vendor == "postgresql":
        sql = "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [table])
        return sorted(row[0] for row in cursor.fetchall())


def append_only_triggers(table: str) -> list[str]:
    """The triggers the append-only migrations install, by database."""
    if connection.vendor == "postgresql":
        return [f"{table}_append_only"]
    return [f"{table}_no_delete", f"{table}_no_update"]
