"""A declaration run through the real Celery workers and the real Gemma model."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from casework.demo import demo_documents_pending, seed_demo
from generation.models import DeclarationRun, RunStatus, SectionStatus
from generation.report import run_call_ids
from llmops.models import CallStatus, LLMCall
from tests.conftest import wait_until

pytestmark = pytest.mark.realstack


def test_a_run_drafts_sections_on_the_real_model_and_records_first_token_times(realstack: Any) -> None:
    case = seed_demo()
    wait_until(lambda: demo_documents_pending(case) == 0, 90, "the demo documents to be read")
    client = Client()
    client.force_login(User.objects.get(username="paralegal"))
    response = client.post(reverse("generation:run_start", args=[case.pk]))
    assert response.status_code == 302
    run = DeclarationRun.objects.get(case=case)
    wait_until(lambda: DeclarationRun.objects.get(pk=run.pk).is_finished, 240, "the run to finish")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    sections = list(run.sections.all())
    assert [s.key for s in sections] == ["introduction", "how_we_met"]
    assert all(s.status in (SectionStatus.DRAFTED, SectionStatus.MISSING) for s in sections)
    assert any(s.status == SectionStatus.DRAFTED for s in sections)

    calls = list(LLMCall.objects.filter(pk__in=run_call_ids(run)))
    assert calls, "the run made no LLM call"
    for call in calls:
        assert call.host.name == "local" and call.stage == "draft"
        assert call.status in (CallStatus.COMPLETED, CallStatus.FAILED)
    completed = [c for c in calls if c.status == CallStatus.COMPLETED]
    assert completed
    for call in completed:
        assert call.started_at and call.first_token_at and call.finished_at
        assert call.queued_at <= call.started_at <= call.first_token_at <= call.finished_at
        assert call.prompt_tokens and call.prompt_tokens > 50  # counted by the model's own tokenizer
        assert call.output_tokens and call.output_tokens <= 48
        assert call.n_ctx == call.model.context_length

    version = run.versions.get(number=1)
    drafted = [s for s in version.sections.all() if s.text]
    assert drafted and all(s.text.startswith("I") for s in drafted)
    page = client.get(reverse("generation:run_detail", args=[case.pk, run.pk])).content.decode()
    assert "Version 1" in page and drafted[0].text[:30] in page
    ops = Client()
    ops.force_login(User.objects.get(username="ops"))
    ops_page = ops.get(reverse("llmops:dashboard")).content.decode()
    assert "local-drafter" in ops_page and drafted[0].text[:30] not in ops_page
