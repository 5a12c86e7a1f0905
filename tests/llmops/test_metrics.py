from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from llmops.models import HangEvent, Host, LLMCall, LLMModel
from tests.settings_child import import_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls() -> list[LLMCall]:
    host = Host.objects.create(name="local", kind="llamacpp")
    models = [
        LLMModel.objects.create(
            name=name, host=host, remote_name="gemma-3-270m", context_length=2048, max_output_tokens=64,
            first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
        )
        for name in ("primary", "backup")
    ]  # fmt: skip
    start = timezone.now() - timedelta(minutes=1)
    failed = LLMCall.objects.create(
        model=models[0], host=host, stage="draft", status="failed", error_kind="stall", messages=[], max_tokens=64,
        output="Maria told me about the picnic", started_at=start, first_token_at=start + timedelta(seconds=0.4),
        finished_at=start + timedelta(seconds=3),
    )  # fmt: skip
    HangEvent.objects.create(
        kind="stall", call=failed, model=models[0], host=host, stage="draft", detected_after_s=2.1, action="failed_over"
    )
    done = LLMCall.objects.create(
        model=models[1], host=host, stage="draft", status="completed", messages=[], max_tokens=64, output_tokens=12,
        failed_over_from=failed, started_at=start, first_token_at=start + timedelta(seconds=1.5),
        finished_at=start + timedelta(seconds=7),
    )  # fmt: skip
    return [failed, done]


def test_metrics_are_off_unless_enabled(calls: list[LLMCall], settings: Any) -> None:
    settings.AFFIANT_METRICS_ENABLED = False
    settings.AFFIANT_METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404


def test_metrics_need_the_token_when_one_is_set(calls: list[LLMCall], settings: Any) -> None:
    settings.AFFIANT_METRICS_TOKEN = "s3cret-scrape-token"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200


def test_enabled_metrics_without_a_token_serve_nothing(calls: list[LLMCall], settings: Any) -> None:
    settings.AFFIANT_METRICS_ENABLED = True
    settings.AFFIANT_METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_enabling_metrics_without_a_token_refuses_to_start() -> None:
    started = import_settings({"AFFIANT_METRICS_ENABLED": "true", "AFFIANT_METRICS_TOKEN": ""})
    assert started.returncode != 0
    assert "AFFIANT_METRICS_ENABLED needs AFFIANT_METRICS_TOKEN" in started.stderr


def test_metrics_count_calls_hangs_failovers_and_latency_without_case_text(calls: list[LLMCall], settings: Any) -> None:
    settings.AFFIANT_METRICS_ENABLED = True
    settings.AFFIANT_METRICS_TOKEN = "s3cret-scrape-token"
    body = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").content.decode()
    assert 'affiant_llm_calls_total{model="primary",host="local",stage="draft",status="failed"} 1' in body
    assert 'affiant_llm_calls_total{model="backup",host="local",stage="draft",status="completed"} 1' in body
    assert 'affiant_llm_hangs_total{kind="stall",model="primary",action="failed_over"} 1' in body
    assert 'affiant_llm_failovers_total{model="primary"} 1' in body
    assert 'affiant_llm_call_seconds_bucket{model="backup",le="5"} 0' in body
    assert 'affiant_llm_call_seconds_bucket{model="backup",le="10"} 1' in body
    assert 'affiant_llm_time_to_first_token_seconds_bucket{model="primary",le="0.5"} 1' in body
    assert 'affiant_llm_output_tokens_total{model="backup"} 12' in body
    assert 'affiant_llm_circuit_open{model="primary"} 0' in body
    assert "Maria" not in body and "picnic" not in body
