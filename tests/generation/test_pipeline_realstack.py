"""A declaration run through all five stages on the real Celery workers and a real model (the tests' catalog)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from casework.demo import demo_documents_pending, seed_demo
from generation.models import DeclarationRun, RunStatus, SectionStatus, SectionStep, Stage, StepStatus
from generation.report import run_call_ids, run_summary
from llmops.models import CallStatus, LLMCall
from tests.conftest import wait_until

pytestmark = pytest.mark.realstack


def assert_every_sentence_cited_or_flagged(run: DeclarationRun) -> None:
    version = run.versions.get(number=1)
    for section in version.sections.all():
        for sentence in section.sentences:
            assert sentence["facts"] or sentence["flags"], sentence
            if sentence["facts"]:
                facts = {f["id"]: f for f in section.facts}
                assert all(i in facts for i in sentence["facts"])
                assert sentence["pages"], "a cited sentence knows its pages"


def test_a_run_goes_through_five_stages_on_the_real_model(realstack: Any) -> None:
    case = seed_demo()
    wait_until(lambda: demo_documents_pending(case) == 0, 90, "the demo documents to be read")
    client = Client()
    client.force_login(User.objects.get(username="paralegal"))
    response = client.post(reverse("generation:run_start", args=[case.pk]))
    assert response.status_code == 302
    run = DeclarationRun.objects.get(case=case)
    wait_until(lambda: DeclarationRun.objects.get(pk=run.pk).is_finished, 600, "the run to finish")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    sections = list(run.sections.all())
    assert [s.key for s in sections] == ["introduction", "how_we_met"]
    assert all(s.status in (SectionStatus.DRAFTED, SectionStatus.MISSING) for s in sections), [
        (s.key, s.status, s.note) for s in sections
    ]
    drafted = [s for s in sections if s.status == SectionStatus.DRAFTED]
    assert drafted, [(s.key, s.note) for s in sections]

    intro = next(s for s in sections if s.key == "introduction")
    # The demo client's record holds her name, birth date and country: the introduction is drafted from it,
    # nothing is asked of the model for it (the record's facts are her sentences already), and none of its
    # four needs is listed as missing.
    assert intro.missing == [] and not intro.steps.filter(stage__in=(Stage.EXTRACT, Stage.DRAFT)).exists(), intro.note
    assert intro.text and "A201555013" not in intro.text
    assert {s["text"] for s in intro.sentences} <= {f["text"] for f in intro.facts if f["source"] == "record"} | {
        s["text"] for s in intro.sentences if s["flags"]
    }
    for section in drafted:
        steps = {(s.stage, s.slot): s for s in section.steps.all()}
        assert (Stage.SCORE, 0) in steps
        assert ((Stage.EXTRACT, 0) in steps) == ((Stage.DRAFT, 0) in steps) == (section.key != "introduction")
        assert {slot for stage, slot in steps if stage == Stage.JUDGE} == set(range(len(settings.AFFIANT_JUDGE_ROUTES)))
        assert all(s.status in (StepStatus.DONE, StepStatus.FAILED) for s in steps.values())
        assert section.facts and all(f["chunk_id"] for f in section.facts if f["source"] == "evidence")
        assert section.judgement["judges"] and len(section.judgement["judges"]) == len(settings.AFFIANT_JUDGE_ROUTES)
        assert section.judgement["judged"] >= 1 and section.judgement["criteria"]
        assert all(s["bertscore"] is not None for s in section.sentences if s["facts"])
        assert section.text == " ".join(s["text"] for s in section.sentences)
    assert_every_sentence_cited_or_flagged(run)

    calls = list(LLMCall.objects.filter(pk__in=run_call_ids(run)))
    assert {c.stage for c in calls} >= {"extract", "draft", "judge"}
    for call in calls:
        assert call.host.name == "local" and call.json_schema is not None
        assert call.status in (CallStatus.COMPLETED, CallStatus.FAILED)
    completed = [c for c in calls if c.status == CallStatus.COMPLETED]
    for call in completed:
        assert call.queued_at <= call.started_at <= call.first_token_at <= call.finished_at  # type: ignore[operator]
        assert call.prompt_tokens and call.prompt_tokens > 30  # counted by the model's own tokenizer
        assert call.n_ctx == call.model.context_length

    summary = run_summary(run)
    assert summary["judges"] == len(settings.AFFIANT_JUDGE_ROUTES) == 2
    assert summary["sentences"] >= summary["cited_sentences"] >= 1
    assert summary["bertscore_f1_mean"] is not None and 0 < summary["bertscore_f1_mean"] <= 1
    assert summary["llm_calls"] == len(calls)
    assert SectionStep.objects.filter(section__run=run).count() == sum(s.steps.count() for s in sections)

    page = client.get(reverse("generation:run_detail", args=[case.pk, run.pk])).content.decode()
    assert "Version 1" in page and drafted[0].sentences[0]["text"][:30] in page
    ops = Client()
    ops.force_login(User.objects.get(username="ops"))
    ops_page = ops.get(reverse("llmops:dashboard")).content.decode()
    assert completed[0].model.name in ops_page and drafted[0].sentences[0]["text"][:30] not in ops_page
