from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, QuerySet
from django.test import Client
from django.urls import reverse

from config.append_only import AppendOnlyError
from llmops.models import Host, LLMModel, OpsAction
from tests.append_only import append_only_triggers, refused, triggers_on

pytestmark = pytest.mark.django_db

TABLE = "llmops_opsaction"


@pytest.fixture
def machinery() -> dict[str, Any]:
    host = Host.objects.create(name="local", kind="llamacpp", restart_command="true")
    model = LLMModel.objects.create(
        name="drafter", host=host, remote_name="gemma-3-270m", context_length=2048, max_output_tokens=64,
        first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
    )  # fmt: skip
    return {"host": host, "model": model}


def _ops(people: dict[str, Any]) -> Client:
    client = Client()
    client.force_login(people["ops"])
    return client


def _action(people: dict[str, Any], machinery: dict[str, Any]) -> OpsAction:
    return OpsAction.objects.create(
        actor=people["ops"], action="unload", host=machinery["host"], model=machinery["model"], ip="10.0.0.1"
    )


def test_the_ops_action_table_has_its_append_only_triggers() -> None:
    assert triggers_on(TABLE) == append_only_triggers(TABLE)


@pytest.mark.parametrize(
    "view",
    ["llmops:model_unload", "llmops:host_restart", "llmops:model_reset_circuit"],
)
def test_each_ops_action_writes_exactly_one_row_with_who_and_where(
    firm_people: dict[str, Any], machinery: dict[str, Any], settings: Any, view: str
) -> None:
    settings.AFFIANT_BEHIND_PROXY = True
    target = machinery["host"] if view == "llmops:host_restart" else machinery["model"]
    response = _ops(firm_people).post(
        reverse(view, args=[target.pk]), REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9"
    )
    assert response.status_code == 302
    action = OpsAction.objects.get()
    assert (action.actor, action.host, action.ip) == (firm_people["ops"], machinery["host"], "203.0.113.9")
    assert action.action == view.removeprefix("llmops:model_").removeprefix("llmops:host_")


def test_raw_sql_cannot_change_or_delete_an_ops_action(firm_people: dict[str, Any], machinery: dict[str, Any]) -> None:
    action = _action(firm_people, machinery)
    assert refused("UPDATE llmops_opsaction SET action = %s WHERE id = %s", ["restart", action.pk])
    assert refused("UPDATE llmops_opsaction SET outcome = %s, ip = NULL WHERE id = %s", ["done", action.pk])
    assert refused("DELETE FROM llmops_opsaction WHERE id = %s", [action.pk])
    assert OpsAction.objects.filter(pk=action.pk, action="unload", ip="10.0.0.1", outcome="").exists()


def test_the_outcome_is_filled_in_once_and_never_rewritten(
    firm_people: dict[str, Any], machinery: dict[str, Any]
) -> None:
    action = _action(firm_people, machinery)
    assert OpsAction.objects.record_outcome(action.pk, "unloaded: gone (1.2s)")
    assert not OpsAction.objects.record_outcome(action.pk, "a second worker's account")  # a redelivered task
    assert refused("UPDATE llmops_opsaction SET outcome = %s WHERE id = %s", ["rewritten", action.pk])
    assert refused("UPDATE llmops_opsaction SET outcome = %s WHERE id = %s", ["", action.pk])
    assert OpsAction.objects.get(pk=action.pk).outcome == "unloaded: gone (1.2s)"


def test_the_orm_refuses_to_update_or_delete_ops_actions(
    firm_people: dict[str, Any], machinery: dict[str, Any]
) -> None:
    action = _action(firm_people, machinery)
    with pytest.raises(AppendOnlyError):
        OpsAction.objects.filter(pk=action.pk).update(outcome="done")
    with pytest.raises(AppendOnlyError):
        OpsAction.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        action.save()
    with pytest.raises(AppendOnlyError):
        action.delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        QuerySet.update(OpsAction.objects.filter(pk=action.pk), action="restart")  # past the guard: the trigger
    assert OpsAction.objects.filter(pk=action.pk, action="unload", outcome="").exists()


def test_a_host_or_model_named_in_an_action_cannot_be_deleted(
    firm_people: dict[str, Any], machinery: dict[str, Any]
) -> None:
    _action(firm_people, machinery)
    for target in (machinery["model"], machinery["host"]):
        with pytest.raises(ProtectedError), transaction.atomic():
            target.delete()
    assert OpsAction.objects.filter(host=machinery["host"], model=machinery["model"]).count() == 1
