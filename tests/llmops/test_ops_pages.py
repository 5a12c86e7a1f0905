from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from llmops.models import GpuSample, HangEvent, Host, LLMCall, LLMModel, OpsAction, WorkerHeartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def machinery() -> dict[str, Any]:
    host = Host.objects.create(name="local", kind="llamacpp", restart_command="true")
    models = {
        name: LLMModel.objects.create(
            name=name, host=host, remote_name="gemma-3-270m", context_length=2048, max_output_tokens=64,
            first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
        )
        for name in ("drafter", "judge")
    }  # fmt: skip
    now = timezone.now()
    HangEvent.objects.create(
        kind="stall", model=models["drafter"], host=host, stage="draft", detected_after_s=2.2, action="failed_over"
    )
    HangEvent.objects.create(
        kind="loop", model=models["judge"], host=host, stage="judge", detected_after_s=4.0, action="failed"
    )
    HangEvent.objects.create(
        kind="first_token_timeout", model=models["judge"], host=host, stage="judge", detected_after_s=5.1,
        action="failed", at=now,
    )  # fmt: skip
    HangEvent.objects.filter(kind="first_token_timeout").update(at=now - timedelta(days=3))
    WorkerHeartbeat.objects.create(
        host=host, worker="gpu-local@box", pid=1, at=now, started_at=now,
        gpus=[{"index": 0, "name": "H100", "uuid": "u", "used_bytes": 40 * 2**30, "total_bytes": 80 * 2**30,
               "utilization_pct": 50}],
        residents=[{"model": "drafter", "pid": 42, "n_ctx": 2048}],
    )  # fmt: skip
    for minutes in (50, 30, 10):
        GpuSample.objects.create(
            host=host, gpu_index=0, at=now - timedelta(minutes=minutes), used_mb=minutes * 100, total_mb=81559
        )
    return {"host": host, **models}


def _client(people: dict[str, Any], who: str) -> Client:
    client = Client()
    client.force_login(people[who])
    return client


def test_ops_pages_render_for_ops_admins_and_404_for_everyone_else(
    firm_people: dict[str, Any], machinery: dict[str, Any]
) -> None:
    pages = [reverse("llmops:dashboard"), reverse("llmops:hangs"), reverse("llmops:model_list")]
    ops = _client(firm_people, "ops")
    for url in pages:
        assert ops.get(url).status_code == 200, url
    posts = [
        reverse("llmops:model_unload", args=[machinery["drafter"].pk]),
        reverse("llmops:model_reset_circuit", args=[machinery["drafter"].pk]),
        reverse("llmops:host_restart", args=[machinery["host"].pk]),
    ]
    for who in ("attorney", "paralegal", "other_firm_attorney"):
        client = _client(firm_people, who)
        for url in pages:
            assert client.get(url).status_code == 404, (who, url)
        for url in posts:
            assert client.post(url).status_code == 404, (who, url)
    assert not OpsAction.objects.exists()


def test_the_dashboard_shows_workers_gpu_memory_and_no_case_text(
    firm_people: dict[str, Any], machinery: dict[str, Any]
) -> None:
    page = _client(firm_people, "ops").get(reverse("llmops:dashboard")).content.decode()
    assert "gpu-local@box" in page and "alive" in page
    assert "40960 / 81920 MiB" in page
    assert f'<meter class="bar" min="0" max="{80 * 2**30}" value="{40 * 2**30}">' in page
    assert "<polyline" in page  # the last hour's memory chart


def test_the_dashboard_lists_quarantined_tasks_with_ids_only(
    firm_people: dict[str, Any], machinery: dict[str, Any]
) -> None:
    from llmops.models import TaskDelivery

    TaskDelivery.objects.create(
        task_id="abc", name="casework.ingest_document", ids=[42], deliveries=4, worker="default@box",
        quarantined_at=timezone.now(),
    )  # fmt: skip
    TaskDelivery.objects.create(task_id="def", name="llmops.run_llm_call", ids=[7])  # running: not listed
    page = _client(firm_people, "ops").get(reverse("llmops:dashboard")).content.decode()
    assert "casework.ingest_document" in page and "default@box" in page and "<td>42</td>" in page
    assert "llmops.run_llm_call" not in page


def test_the_hang_filter_narrows_by_model_kind_stage_and_time(
    firm_people: dict[str, Any], machinery: dict[str, Any]
) -> None:
    ops = _client(firm_people, "ops")
    url = reverse("llmops:hangs")

    def kinds(**params: str) -> list[str]:
        page = ops.get(url, params).content.decode()
        return sorted(k for k in ("stall", "loop", "first_token_timeout") if f'data-kind="{k}"' in page)

    assert kinds() == ["loop", "stall"]  # the last 24 hours
    assert kinds(since="7d") == ["first_token_timeout", "loop", "stall"]
    assert kinds(since="7d", model="judge") == ["first_token_timeout", "loop"]
    assert kinds(since="all", stage="draft") == ["stall"]
    assert kinds(since="all", kind="loop", host="local") == ["loop"]


def test_ops_actions_are_recorded_and_reset_a_circuit(firm_people: dict[str, Any], machinery: dict[str, Any]) -> None:
    ops = _client(firm_people, "ops")
    ops.post(reverse("llmops:model_unload", args=[machinery["drafter"].pk]))
    ops.post(reverse("llmops:host_restart", args=[machinery["host"].pk]))
    ops.post(reverse("llmops:model_reset_circuit", args=[machinery["judge"].pk]))
    actions = list(OpsAction.objects.order_by("id").values_list("action", "actor__username", "model__name"))
    assert actions == [("unload", "ops1", "drafter"), ("restart", "ops1", None), ("reset_circuit", "ops1", "judge")]
    machinery["judge"].refresh_from_db()
    assert machinery["judge"].circuit_reset_at is not None


def test_ops_pages_stay_within_a_fixed_number_of_queries_with_100k_calls(
    firm_people: dict[str, Any], machinery: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    now = timezone.now()
    rows = []
    for i in range(100_000):
        started = now - timedelta(seconds=i * 3)
        rows.append(
            LLMCall(
                model=machinery["drafter" if i % 2 else "judge"], host=machinery["host"], stage="draft",
                status="completed" if i % 7 else "failed", messages=[], max_tokens=64, output_tokens=20,
                started_at=started, first_token_at=started + timedelta(seconds=0.5),
                finished_at=started + timedelta(seconds=2 + i % 5),
            )
        )  # fmt: skip
    LLMCall.objects.bulk_create(rows, batch_size=5000)
    LLMCall.objects.update(queued_at=F("started_at"))  # auto_now_add stamped them all "now"
    ops = _client(firm_people, "ops")
    for url in (reverse("llmops:dashboard"), reverse("llmops:hangs"), reverse("llmops:model_list") + "?window=7d"):
        with django_assert_max_num_queries(30):
            assert ops.get(url).status_code == 200
    page = ops.get(reverse("llmops:model_list") + "?window=24h").content.decode()
    # One call every 3 s, alternating models: 28800 in the last 24 h, 14400 each.
    row = page[page.index('data-model="drafter"') :].split("</tr>")[0]
    calls = int(row.split("<td>")[3].split("</td>")[0])
    assert 14_390 <= calls <= 14_400, row  # a few slip out of the window while the test runs


def test_the_memory_chart_covers_the_last_hour_or_day(firm_people: dict[str, Any], machinery: dict[str, Any]) -> None:
    GpuSample.objects.create(
        host=machinery["host"], gpu_index=0, at=timezone.now() - timedelta(hours=5), used_mb=777, total_mb=81559
    )
    ops = _client(firm_people, "ops")
    hour = ops.get(reverse("llmops:dashboard")).content.decode()
    day = ops.get(reverse("llmops:dashboard"), {"memory": "day"}).content.decode()
    points = lambda page: page.split('points="')[1].split('"')[0].count(",")  # noqa: E731
    assert "GPU memory, last hour" in hour and "GPU memory, last day" in day
    assert points(hour) == 3 and points(day) == 4


def test_the_models_page_counts_refusals_per_model(firm_people: dict[str, Any], machinery: dict[str, Any]) -> None:
    for model, error_kind in (("judge", "refused"), ("judge", "refused"), ("judge", "loop"), ("drafter", "")):
        LLMCall.objects.create(
            model=machinery[model], host=machinery["host"], stage="judge", messages=[], max_tokens=64,
            status="failed" if error_kind else "completed", error_kind=error_kind,
        )  # fmt: skip
    page = _client(firm_people, "ops").get(reverse("llmops:model_list")).content.decode()

    def cell(model: str, css: str) -> str:
        row = page[page.index(f'data-model="{model}"') :].split("</tr>")[0]
        return row.split(f'<td class="{css}">')[1].split("</td>")[0]

    assert (cell("judge", "refused"), cell("drafter", "refused")) == ("2", "0")
    assert "<th" in page and "Refused</th>" in page
