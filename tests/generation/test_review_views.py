"""The review screen's parts, through the views: evidence beside a sentence, comments, one-section
edits, comparing versions, live progress, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from casework.models import AuditEvent, Page
from generation.models import Comment, DeclarationRun, DraftSection, DraftVersion, RunSection, RunStatus
from tests.generation.test_versions import drafted_run

pytestmark = pytest.mark.django_db

PAGE_TEXT = "INTAKE\nClient states she met\nDaniel Hayes in March 2015 at a church picnic. She married him later."


def cited_run(case: Any) -> DeclarationRun:
    """A drafted run whose first sentence cites a chunk of a real page of the case."""
    import io

    from casework.models import Chunk
    from casework.pdfgen import text_pdf
    from casework.uploads import do_store_upload

    document = do_store_upload(case=case, name="intake.pdf", stream=io.BytesIO(text_pdf([PAGE_TEXT])), uploaded_by=None)
    document.document.status = "indexed"
    document.document.save()
    Page.objects.create(document=document.document, number=1, text=PAGE_TEXT)
    chunk = Chunk.objects.create(
        document=document.document, case=case, ordinal=0, page_start=1, page_end=1,
        text="Client states she met Daniel Hayes in March 2015 at a church picnic.",
    )  # fmt: skip
    run = drafted_run(case)
    section = DraftSection.objects.get(version__run=run, key="introduction")
    section.facts = [
        {"id": "F1", "n": 1, "need": "when we met", "text": "She met Daniel Hayes in March 2015 at a church picnic",
         "chunk_id": chunk.pk, "document_id": document.document.pk, "document_name": "intake.pdf", "page": 1}
    ]  # fmt: skip
    section.sentences = [
        {"text": "I met Daniel Hayes in March 2015 at a church picnic.", "facts": ["F1"], "chunks": [chunk.pk],
         "pages": [], "bertscore": 0.81, "flags": [{"kind": "judge", "by": "judge 2", "reason": "which church?"}]}
    ]  # fmt: skip
    section.text = section.sentences[0]["text"]
    section.save()
    return run


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_sentence_shows_its_page_with_the_passage_marked(firm_people: dict[str, Any]) -> None:
    run = cited_run(firm_people["case"])
    url = reverse("generation:sentence_evidence", args=[run.case_id, run.pk, 1, "introduction", 0])
    page = client_for(firm_people["paralegal"]).get(url).content.decode()
    assert "<mark>Client states she met\nDaniel Hayes in March 2015 at a church picnic.</mark>" in page
    assert "intake.pdf, page 1" in page and "which church?" in page and "0.810" in page
    assert AuditEvent.objects.filter(action="view_evidence", case=run.case).count() == 1
    outsider = client_for(firm_people["unassigned_attorney"]).get(url)
    assert outsider.status_code == 404
    beyond = reverse("generation:sentence_evidence", args=[run.case_id, run.pk, 1, "introduction", 5])
    assert client_for(firm_people["attorney"]).get(beyond).status_code == 404


def test_a_sentence_citing_the_case_record_shows_the_recorded_field_instead_of_a_page(
    firm_people: dict[str, Any],
) -> None:
    from generation.record import record_facts

    run = cited_run(firm_people["case"])
    section = DraftSection.objects.get(version__run=run, key="introduction")
    full_name = {**record_facts(run.case)[0], "need": "my full name"}  # R1: the client's full name, Jane Doe
    section.facts = [*section.facts, full_name]
    section.sentences = [
        *section.sentences,
        {"text": "My full name is Jane Doe.", "facts": ["R1"], "chunks": [], "bertscore": 0.74, "flags": [],
         "pages": [{"document_id": None, "name": "Case record", "page": None}]},
    ]  # fmt: skip
    section.save()
    url = reverse("generation:sentence_evidence", args=[run.case_id, run.pk, 1, "introduction", 1])
    html = client_for(firm_people["attorney"]).get(url).content.decode()
    assert "[R1] My full name is Jane Doe." in html and "— Case record</span>" in html
    assert '<div class="cited-record">' in html and "page None" not in html
    assert 'class="cited-page"' not in html  # no document page to show
    draft = client_for(firm_people["attorney"]).get(reverse("generation:run_detail", args=[run.case_id, run.pk]))
    assert "My full name is Jane Doe." in draft.content.decode()
    for view in ("version_export", "version_export_pdf"):  # the export takes record facts in its stride
        exported = client_for(firm_people["attorney"]).get(reverse(f"generation:{view}", args=[run.case_id, run.pk, 1]))
        assert exported.status_code == 200 and exported.content


def test_the_draft_page_marks_flags_and_lists_missing_facts(firm_people: dict[str, Any]) -> None:
    run = cited_run(firm_people["case"])
    DraftSection.objects.filter(version__run=run, key="how_we_met").update(missing=["when we met"])
    page = client_for(firm_people["attorney"]).get(reverse("generation:run_detail", args=[run.case_id, run.pk]))
    html = page.content.decode()
    assert 'class="sentence flag-judge"' in html and 'title="judge 2: which church?"' in html
    assert "Missing facts" in html and "<li>when we met</li>" in html
    assert 'id="approve"' in html and 'id="download-pdf"' in html
    paralegal_html = client_for(firm_people["paralegal"]).get(page.request["PATH_INFO"]).content.decode()
    assert 'id="approve"' not in paralegal_html and "Redraft this section" not in paralegal_html


def test_an_attorney_edits_one_section_in_place(firm_people: dict[str, Any]) -> None:
    run = cited_run(firm_people["case"])
    attorney = client_for(firm_people["attorney"])
    url = reverse("generation:section_edit", args=[run.case_id, run.pk, "how_we_met"])
    assert client_for(firm_people["paralegal"]).post(url, {"text": "x"}).status_code == 404
    attorney.post(url, {"text": "I met Daniel at St. Anne's picnic. We talked for hours.", "note": "client call"})
    v2 = run.versions.get(number=2)
    edited = v2.sections.get(key="how_we_met")
    assert [s["text"] for s in edited.sentences] == ["I met Daniel at St. Anne's picnic.", "We talked for hours."]
    assert all(s["flags"][0]["kind"] == "edited" for s in edited.sentences)
    kept = v2.sections.get(key="introduction")
    assert kept.sentences[0]["facts"] == ["F1"]  # untouched sections keep their citations
    assert attorney.post(url, {"text": ""}).status_code == 302 and run.versions.count() == 2  # empty: refused


def test_comments_stay_with_their_section_and_anyone_on_the_case_may_write_them(
    firm_people: dict[str, Any],
) -> None:
    run = drafted_run(firm_people["case"])
    url = reverse("generation:comment_add", args=[run.case_id, run.pk])
    client_for(firm_people["paralegal"]).post(url, {"text": "Ask her the date.", "section_key": "how_we_met"})
    client_for(firm_people["attorney"]).post(url, {"text": "Looks right overall.", "section_key": "nope"})
    assert client_for(firm_people["other_firm_attorney"]).post(url, {"text": "hi"}).status_code == 404
    comments = list(Comment.objects.filter(run=run).values_list("section_key", "text", "version_number"))
    assert comments == [("how_we_met", "Ask her the date.", 1), ("", "Looks right overall.", 1)]
    page = client_for(firm_people["attorney"]).get(reverse("generation:run_detail", args=[run.case_id, run.pk]))
    assert "Ask her the date." in page.content.decode()


def test_two_versions_compare_word_by_word(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    client_for(firm_people["attorney"]).post(
        reverse("generation:section_edit", args=[run.case_id, run.pk, "introduction"]), {"text": "I am Jane Doe."}
    )
    url = reverse("generation:version_compare", args=[run.case_id, run.pk])
    html = client_for(firm_people["paralegal"]).get(url, {"a": 1, "b": 2}).content.decode()
    assert "1 section changed" in html
    assert "<del>Jane.</del><ins>Jane Doe.</ins>" in html
    assert client_for(firm_people["paralegal"]).get(url, {"a": 1, "b": 9}).status_code == 302


def test_progress_polls_until_the_run_ends_then_reloads_the_draft_page(firm_people: dict[str, Any]) -> None:
    run = DeclarationRun.objects.create(case=firm_people["case"], template="vawa", template_version=2)
    RunSection.objects.create(run=run, key="introduction", heading="Introduction", order=0)
    url = reverse("generation:run_progress", args=[run.case_id, run.pk])
    client = client_for(firm_people["paralegal"])
    running = client.get(url, {"reload": "1"}, HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in running and "progress/?reload=1" in running.content.decode()
    run.status = RunStatus.COMPLETED
    run.save()
    DraftVersion.objects.create(run=run, number=1)
    assert client.get(url, {"reload": "1"}, HTTP_HX_REQUEST="true")["HX-Refresh"] == "true"
    assert "HX-Refresh" not in client.get(url, HTTP_HX_REQUEST="true")  # the case page does not reload


def test_only_an_attorney_redrafts_a_section_and_never_an_approved_one(
    firm_people: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    run = drafted_run(firm_people["case"])
    url = reverse("generation:section_regenerate", args=[run.case_id, run.pk, "introduction"])
    assert client_for(firm_people["paralegal"]).post(url).status_code == 404
    run.versions.update(approved_at="2026-01-01T00:00:00Z", approved_by=firm_people["attorney"])
    response = client_for(firm_people["attorney"]).post(url, follow=True)
    assert "approved and frozen" in response.content.decode()
    assert not run.regenerations.exists()
