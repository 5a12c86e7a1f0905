"""The audit trail's hash chain: what the append-only triggers cannot stop, `verify_audit` finds afterwards."""

from __future__ import annotations

import importlib
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory

from casework import audit
from casework.models import AuditEvent
from tests.append_only import append_only_triggers, triggers_on

pytestmark = pytest.mark.django_db

TABLE = "casework_auditevent"
append_only = importlib.import_module("casework.migrations.0005_audit_append_only")


def _record(people: dict[str, Any], count: int, ip: str = "10.0.0.1") -> list[AuditEvent]:
    case = people["case"]
    request = RequestFactory().get("/", REMOTE_ADDR=ip)
    request.user = people["attorney"]
    return [audit.record(request=request, action="view", obj=case, case=case) for _ in range(count)]


def _verify(*args: str) -> str:
    out = io.StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def _broken(*args: str) -> str:
    with pytest.raises(CommandError) as refused:
        _verify(*args)
    assert refused.value.returncode == 1
    return str(refused.value)


@contextmanager
def _as_the_owner() -> Iterator[Any]:
    """What the tables' owner can do, and a migration run backwards does: take the triggers off, write, put
    them back."""
    with connection.cursor() as cursor:
        for sql in append_only.REMOVE[connection.vendor]:
            cursor.execute(sql)
        yield cursor
        for sql in append_only.INSTALL[connection.vendor]:
            cursor.execute(sql)


def test_each_row_follows_the_one_before_it_by_hash(firm_people: dict[str, Any]) -> None:
    _record(firm_people, 2)
    _record(firm_people, 1, ip="2001:DB8::1")
    rows = list(AuditEvent.objects.order_by("id"))
    assert rows[0].prev_hash == audit.GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]
    assert len({r.row_hash for r in rows}) == 3
    assert _verify().strip() == f"audit chain holds: 3 rows; head {rows[-1].pk}:{rows[-1].row_hash}"


def test_a_row_changed_while_the_triggers_were_down_is_named(firm_people: dict[str, Any]) -> None:
    rows = _record(firm_people, 3)
    with _as_the_owner() as cursor:
        cursor.execute("UPDATE casework_auditevent SET ip = %s WHERE id = %s", ["10.9.9.9", rows[1].pk])
    assert _broken() == f"audit row {rows[1].pk}: its fields do not match its hash: it was changed after it was written"


def test_the_row_after_one_removed_is_named(firm_people: dict[str, Any]) -> None:
    rows = _record(firm_people, 3)
    with _as_the_owner() as cursor:
        cursor.execute("DELETE FROM casework_auditevent WHERE id = %s", [rows[1].pk])
    assert _broken().startswith(f"audit row {rows[2].pk}: its prev_hash is not the hash of row {rows[0].pk}")


def test_a_chain_rewritten_or_emptied_no_longer_holds_its_anchor(firm_people: dict[str, Any]) -> None:
    rows = _record(firm_people, 2)
    anchor = f"{rows[-1].pk}:{rows[-1].row_hash}"
    assert "2 rows" in _verify("--anchor", anchor)
    # Whoever can write the table can change a row and recompute every hash after it: the chain holds again...
    with _as_the_owner() as cursor:
        prev_hash = audit.GENESIS
        for row in AuditEvent.objects.order_by("id").values("id", *audit.CHAINED_FIELDS):
            row.update(prev_hash=prev_hash, action="nothing")
            prev_hash = audit.chain_hash(row)
            cursor.execute(
                "UPDATE casework_auditevent SET action = %s, prev_hash = %s, row_hash = %s WHERE id = %s",
                ["nothing", row["prev_hash"], prev_hash, row["id"]],
            )
    assert "2 rows" in _verify()
    # ...but not the head kept outside it.
    rewritten = f"audit row {rows[-1].pk}: its hash is not the anchor's: the chain was rewritten"
    assert _broken("--anchor", anchor) == rewritten
    # Emptied (TRUNCATE) and begun again: a chain from the start, without the anchored row.
    with _as_the_owner() as cursor:
        cursor.execute("DELETE FROM casework_auditevent")
    _record(firm_people, 1)
    assert "1 rows" in _verify()
    assert _broken("--anchor", anchor).startswith(f"audit row {rows[-1].pk}: the anchored row is gone")


@pytest.mark.django_db(transaction=True)
def test_writers_at_once_do_not_fork_the_chain(firm_people: dict[str, Any]) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            _record(firm_people, 10)
        except BaseException as exc:  # reported below, from the test's own thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert "40 rows" in _verify()


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_the_rows_written_before_it(firm_people: dict[str, Any]) -> None:
    before = [("casework", "0006_document_queued_at")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        # Run backwards, the migration puts back the triggers it took off.
        assert triggers_on(TABLE) == append_only_triggers(TABLE)
        old = executor.loader.project_state(before).apps.get_model("casework", "AuditEvent")
        case = firm_people["case"]
        for ip in ("10.0.0.1", None, "2001:db8::2"):
            old.objects.create(action="view", case_id=case.pk, object_type="case", object_id=str(case.pk), ip=ip)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert triggers_on(TABLE) == append_only_triggers(TABLE)
    assert "3 rows" in _verify()
    _record(firm_people, 1)
    assert "4 rows" in _verify()
