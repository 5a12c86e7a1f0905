from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from docx import Document as WordDocument

from casework.models import AuditEvent, Party
from generation.declarations import ATTESTATION
from tests.generation.test_versions import drafted_run

pytestmark = pytest.mark.django_db


def _client(people: dict[str, Any], who: str) -> Client:
    client = Client()
    client.force_login(people[who])
    return client


def _docx_text(data: bytes) -> tuple[list[str], str]:
    document = WordDocument(io.BytesIO(data))
    headings = [p.text for p in document.paragraphs if p.style is not None and p.style.name.startswith("Heading")]
    return headings, "\n".join(p.text for p in document.paragraphs)


def test_an_attorney_approves_the_latest_version_which_is_then_frozen(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    attorney = _client(firm_people, "attorney")
    approve = reverse("generation:version_approve", args=[run.case_id, run.pk, 1])
    assert _client(firm_people, "paralegal").post(approve).status_code == 404
    assert attorney.post(approve).status_code == 302
    version = run.versions.get(number=1)
    assert version.approved_by == firm_people["attorney"] and version.approved_at is not None
    edit = reverse("generation:run_edit", args=[run.case_id, run.pk])
    attorney.post(edit, {"section_introduction": "Changed after approval.", "note": ""})
    assert run.versions.count() == 1
    assert run.versions.get().sections.get(key="introduction").text == "I am Jane."
    assert AuditEvent.objects.filter(action="approve", actor=firm_people["attorney"]).count() == 1


def test_the_word_export_has_headings_the_attestation_and_an_interpreter_certificate(
    firm_people: dict[str, Any],
) -> None:
    run = drafted_run(firm_people["case"])
    Party.objects.filter(case=run.case, role="client").update(language="Spanish")
    url = reverse("generation:version_export", args=[run.case_id, run.pk, 1])
    assert _client(firm_people, "paralegal").get(url).status_code == 404
    response = _client(firm_people, "attorney").get(url)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    headings, text = _docx_text(response.content)
    assert headings == ["Introduction", "How we met", "Attestation", "Certificate of interpreter"]
    assert "I am Jane." in text and ATTESTATION in text and "Signature" in text and "Date" in text
    assert "No passage speaks to this." not in text  # notes to the attorney stay out of the declaration
    assert AuditEvent.objects.filter(action="export").count() == 1


def test_export_command_writes_the_latest_version(firm_people: dict[str, Any], tmp_path: Path) -> None:
    run = drafted_run(firm_people["case"])
    out = tmp_path / "declaration.docx"
    call_command("export", "--run", str(run.pk), "--format", "docx", "--out", str(out), stdout=io.StringIO())
    headings, text = _docx_text(out.read_bytes())
    assert "Introduction" in headings and "Certificate of interpreter" not in headings  # English-speaking client
    assert ATTESTATION in text
