from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from generation.models import DeclarationRun, DraftSection, DraftVersion, RunStatus
from generation.pipeline import do_save_version

pytestmark = pytest.mark.django_db


def drafted_run(case: Any) -> DeclarationRun:
    run = DeclarationRun.objects.create(case=case, template="vawa", template_version=1, status=RunStatus.COMPLETED)
    version = DraftVersion.objects.create(run=run, number=1)
    DraftSection.objects.create(
        version=version,
        key="introduction",
        heading="Introduction",
        order=0,
        text="I am Jane.",
        sentences=[{"text": "I am Jane.", "facts": [], "chunks": [], "pages": [], "flags": [], "bertscore": None}],
    )
    DraftSection.objects.create(
        version=version, key="how_we_met", heading="How we met", order=1, text="", note="No passage speaks to this."
    )
    return run


def test_saving_an_edit_adds_a_version_and_keeps_the_old_one(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    v2 = do_save_version(
        run=run, texts={"introduction": "I am Jane Doe, born in 1990."}, created_by=firm_people["attorney"]
    )
    assert v2.number == 2
    old, new = ({s.key: s.text for s in DraftVersion.objects.get(run=run, number=n).sections.all()} for n in (1, 2))
    assert old == {"introduction": "I am Jane.", "how_we_met": ""}
    assert new == {"introduction": "I am Jane Doe, born in 1990.", "how_we_met": ""}
    assert v2.sections.get(key="how_we_met").note == "No passage speaks to this."


def test_an_attorney_edits_through_the_form_and_sees_version_2(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    client = Client()
    client.force_login(firm_people["attorney"])
    url = reverse("generation:run_edit", args=[run.case_id, run.pk])
    response = client.post(url, {"section_introduction": "I am Jane Doe.", "section_how_we_met": "", "note": "names"})
    assert response.status_code == 302
    page = client.get(reverse("generation:run_detail", args=[run.case_id, run.pk])).content.decode()
    assert "Version 2" in page and "I am Jane Doe." in page


def test_a_paralegal_reads_the_draft_but_cannot_edit_it(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    client = Client()
    client.force_login(firm_people["paralegal"])
    page = client.get(reverse("generation:run_detail", args=[run.case_id, run.pk]))
    assert page.status_code == 200 and "Edit draft" not in page.content.decode()
    url = reverse("generation:run_edit", args=[run.case_id, run.pk])
    assert client.post(url, {"section_introduction": "changed"}).status_code == 404
    assert run.versions.count() == 1
