"""The cap on deliveries of one task message (config/deliveries.py), counted in the database.
The same cap through a real worker killed by a poison task: tests/test_crash_safety.py."""

from __future__ import annotations

from typing import Any, cast

import pytest
from celery import shared_task

from config.deliveries import admit, finished, forget_stale
from llmops.models import TaskDelivery

pytestmark = pytest.mark.django_db

ran: list[int] = []


@shared_task(name="tests.deliveries.count", bind=True)
def count(self: Any, n: int, secret: str = "") -> int:
    ran.append(n)
    return n


def test_a_message_delivered_more_than_the_cap_without_ending_is_quarantined_not_run(settings: Any) -> None:
    settings.AFFIANT_TASK_MAX_DELIVERIES = 3
    # Three deliveries that each killed their worker (no `finished`): each was let through.
    assert [admit("t-1", "casework.ingest", [42], "w@box") for _ in range(3)] == [True, True, True]
    assert not admit("t-1", "casework.ingest", [42], "w@box")  # the fourth: quarantined
    row = TaskDelivery.objects.get(task_id="t-1")
    assert (row.deliveries, row.ids, row.quarantined_at is not None) == (4, [42], True)
    assert not admit("t-1", "casework.ingest", [42], "w@box")  # and stays so
    finished("t-1")
    assert TaskDelivery.objects.filter(task_id="t-1").exists()  # a quarantined row is kept for ops


def test_a_task_that_ends_leaves_no_count_and_only_ids_of_its_arguments_are_kept(settings: Any) -> None:
    settings.AFFIANT_TASK_MAX_DELIVERIES = 3
    ran.clear()
    cast(Any, count).push_request(id="t-2", hostname="w@box", called_directly=False, is_eager=False)
    try:
        assert count(7, secret="a password") == 7
        assert not TaskDelivery.objects.exists()  # ended: nothing left
        for _ in range(3):  # three deliveries killed before ending
            admit("t-2", count.name, [7], "w@box")
        assert count(7, secret="a password") is None  # the fourth is not run
    finally:
        count.pop_request()
    assert ran == [7]
    row = TaskDelivery.objects.get(task_id="t-2")
    assert row.ids == [7] and "password" not in str(row.__dict__)


def test_called_in_process_the_task_is_not_counted() -> None:
    ran.clear()
    assert count(3) == 3 and ran == [3]
    assert not TaskDelivery.objects.exists()


def test_counts_left_by_acknowledged_messages_are_forgotten_after_twice_the_visibility_timeout() -> None:
    from datetime import timedelta

    from django.utils import timezone

    admit("old", "x", [], "w")
    admit("new", "x", [], "w")
    TaskDelivery.objects.filter(task_id="old").update(last_at=timezone.now() - timedelta(days=1))
    assert forget_stale() == 1
    assert list(TaskDelivery.objects.values_list("task_id", flat=True)) == ["new"]
