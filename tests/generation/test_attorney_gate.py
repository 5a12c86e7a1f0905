"""The attorney's gate: a version with an open flag cannot be approved; the attorney resolves each flagged
sentence by editing, removing, or accepting it with a reason (each a new, audited version); and what is
exported before approval says on every page that it is a draft."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from docx import Document as WordDocument
from pypdf import PdfReader

from casework.models import AuditEvent
from generation.export import DRAFT_MARK, declaration_docx, declaration_pdf
from generation.flags import open_flags, refusal
from generation.models import DeclarationRun, DraftSection, DraftVersion
from generation.pipeline import (
    FlagsOpen,
    NotResolvable,
    do_accept_sentence,
    do_approve_version,
    do_remove_sentence,
    do_save_version,
)
from tests.generation.test_versions import drafted_run

pytestmark = pytest.mark.django_db

JUDGE = {"kind": "judge", "by": "judge 1 (judge_a)", "reason": "no fact says where they married"}
WEAK = {"kind": "weak_support", "by": "BERTScore", "reason": "weakly supported by its cited passages"}
REWRITTEN = {"kind": "rewritten", "by": "guardrails", "reason": "third person"}
EDITED = {"kind": "edited", "by": "attorney", "reason": "the attorney's wording; no citation"}


def _sentence(text: str, *flags: dict[str, Any]) -> dict[str, Any]:
    return {"text": text, "facts": ["F1"], "chunks": [], "pages": [], "flags": list(flags), "bertscore": 0.9}


def flagged_run(case: Any) -> DeclarationRun:
    """drafted_run with three sentences in "How we met": the first only informs (rewritten), the second a
    judge flagged, the third is weakly supported; and one edited sentence in the Introduction."""
    run = drafted_run(case)
    DraftSection.objects.filter(version__run=run, key="introduction").update(
        text="I am Jane.", sentences=[_sentence("I am Jane.", EDITED)]
    )
    sentences = [
        _sentence("I met John in June 2016.", REWRITTEN),
        _sentence("We married in Houston.", JUDGE),
        _sentence("He was kind at first.", WEAK),
    ]
    DraftSection.objects.filter(version__run=run, key="how_we_met").update(
        text="I met John in June 2016. We married in Houston.\n\nHe was kind at first.", sentences=sentences
    )
    return run


def _client(people: dict[str, Any], who: str) -> Client:
    client = Client()
    client.force_login(people[who])
    return client


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- which flags are open -------------------------------------------------------------------------------------


def test_every_flag_but_edited_and_rewritten_is_open_until_resolved(firm_people: dict[str, Any]) -> None:
    run = flagged_run(firm_people["case"])
    found = open_flags(run.versions.get())
    assert [(o.key, o.number, [f["kind"] for f in o.flags]) for o in found] == [
        ("how_we_met", 2, ["judge"]),
        ("how_we_met", 3, ["weak_support"]),
    ]
    assert refusal(found) == (
        "2 flags are open — How we met: sentences 2 and 3. "
        "Edit the sentence, remove it, or accept it with a reason before approving."
    )


def test_approval_is_refused_while_a_flag_is_open_and_allowed_once_each_is_resolved(
    firm_people: dict[str, Any],
) -> None:
    run = flagged_run(firm_people["case"])
    attorney = firm_people["attorney"]
    with pytest.raises(FlagsOpen, match="2 flags are open — How we met: sentences 2 and 3"):
        do_approve_version(version=run.versions.get(), approved_by=attorney)
    v2 = do_accept_sentence(
        run=run, number=1, key="how_we_met", index=1, reason="The client confirmed it in person.", accepted_by=attorney
    )
    with pytest.raises(FlagsOpen, match="1 flag is open — How we met: sentence 3"):
        do_approve_version(version=v2, approved_by=attorney)
    v3 = do_remove_sentence(run=run, number=2, key="how_we_met", index=2, removed_by=attorney)
    assert do_approve_version(version=v3, approved_by=attorney).approved_at is not None
    assert run.versions.get(number=1).approved_at is None  # earlier versions stay as they were


# --- resolving ------------------------------------------------------------------------------------------------


def test_an_accepted_flag_stays_on_the_sentence_marked_resolved_with_who_and_why(
    firm_people: dict[str, Any],
) -> None:
    run = flagged_run(firm_people["case"])
    v2 = do_accept_sentence(
        run=run,
        number=1,
        key="how_we_met",
        index=1,
        reason="  Client confirmed\nthe city. ",
        accepted_by=firm_people["attorney"],
    )
    (flag,) = v2.sections.get(key="how_we_met").sentences[1]["flags"]
    assert flag["kind"] == "judge" and flag["reason"] == JUDGE["reason"]
    assert {k: flag["resolved"][k] for k in ("how", "reason", "by")} == {
        "how": "accepted",
        "reason": "Client confirmed the city.",
        "by": firm_people["attorney"].username,
    }
    assert flag["resolved"]["at"]
    assert v2.created_by == firm_people["attorney"] and "Client confirmed the city." in v2.note
    assert v2.sections.get(key="how_we_met").text == run.versions.get(number=1).sections.get(key="how_we_met").text
    assert run.versions.get(number=1).sections.get(key="how_we_met").sentences[1]["flags"] == [JUDGE]


def test_accepting_needs_a_reason_and_an_open_flag(firm_people: dict[str, Any]) -> None:
    run = flagged_run(firm_people["case"])
    attorney = firm_people["attorney"]
    with pytest.raises(NotResolvable, match="reason is required"):
        do_accept_sentence(run=run, number=1, key="how_we_met", index=1, reason=" \n ", accepted_by=attorney)
    with pytest.raises(NotResolvable, match="no open flag"):
        do_accept_sentence(run=run, number=1, key="how_we_met", index=0, reason="fine", accepted_by=attorney)
    with pytest.raises(NotResolvable, match="not part of this draft"):
        do_accept_sentence(run=run, number=1, key="how_we_met", index=7, reason="fine", accepted_by=attorney)
    assert run.versions.count() == 1


def test_a_page_that_shows_an_older_version_cannot_resolve_its_sentences(firm_people: dict[str, Any]) -> None:
    run = flagged_run(firm_people["case"])
    attorney = firm_people["attorney"]
    do_remove_sentence(run=run, number=1, key="how_we_met", index=0, removed_by=attorney)
    with pytest.raises(NotResolvable, match="Version 1 is no longer the latest"):
        do_remove_sentence(run=run, number=1, key="how_we_met", index=0, removed_by=attorney)


def test_removing_a_sentence_keeps_the_other_sentences_their_flags_and_paragraphs(firm_people: dict[str, Any]) -> None:
    run = flagged_run(firm_people["case"])
    v2 = do_remove_sentence(run=run, number=1, key="how_we_met", index=1, removed_by=firm_people["attorney"])
    section = v2.sections.get(key="how_we_met")
    assert section.text == "I met John in June 2016.\n\nHe was kind at first."
    assert [s["text"] for s in section.sentences] == ["I met John in June 2016.", "He was kind at first."]
    assert section.sentences[1]["flags"] == [WEAK]
    assert v2.note == 'Removed sentence 2 of "How we met"'


def test_removing_a_sentence_from_text_that_does_not_split_into_its_sentences_joins_the_rest() -> None:
    from generation.pipeline import _text_without

    sentences = [{"text": "I met him at St. Anne's"}, {"text": "It rained."}, {"text": "He left"}]
    assert (
        _text_without("I met him at St. Anne's It rained. He left", sentences, 1) == "I met him at St. Anne's He left"
    )


def test_an_edited_sentence_carries_only_the_attorneys_flag(firm_people: dict[str, Any]) -> None:
    run = flagged_run(firm_people["case"])
    text = "I met John in June 2016. We married at the Harris County courthouse.\n\nHe was kind at first."
    v2 = do_save_version(run=run, texts={"how_we_met": text}, created_by=firm_people["attorney"])
    sentences = v2.sections.get(key="how_we_met").sentences
    assert [f["kind"] for f in sentences[1]["flags"]] == ["edited"]
    assert [(o.number, o.flags[0]["kind"]) for o in open_flags(v2)] == [(3, "weak_support")]  # unchanged: kept


# --- through the views ----------------------------------------------------------------------------------------


def test_the_review_page_shows_open_flags_their_controls_and_the_count_by_approve(firm_people: dict[str, Any]) -> None:
    run = flagged_run(firm_people["case"])
    url = reverse("generation:run_detail", args=[run.case_id, run.pk])
    html = _client(firm_people, "attorney").get(url).content.decode()
    assert 'id="open-count">2 flags are open' in html
    assert "Sentence 2: “We married in Houston.”" in html and JUDGE["reason"] in html
    accept = reverse("generation:sentence_accept", args=[run.case_id, run.pk, 1, "how_we_met", 1])
    remove = reverse("generation:sentence_remove", args=[run.case_id, run.pk, 1, "how_we_met", 2])
    assert f'action="{accept}"' in html and f'action="{remove}"' in html
    assert "Sentence 1: “I met John" not in html  # a rewrite that passed the gate only informs
    paralegal = _client(firm_people, "paralegal").get(url).content.decode()
    assert "Sentence 2: “We married in Houston.”" in paralegal and f'action="{accept}"' not in paralegal


def test_the_approve_button_refuses_with_the_open_flags_then_approves_after_they_are_resolved(
    firm_people: dict[str, Any],
) -> None:
    run = flagged_run(firm_people["case"])
    attorney = _client(firm_people, "attorney")
    approve = reverse("generation:version_approve", args=[run.case_id, run.pk, 1])
    response = attorney.post(approve)
    assert response.status_code == 302
    assert _messages(response) == [
        "2 flags are open — How we met: sentences 2 and 3. "
        "Edit the sentence, remove it, or accept it with a reason before approving."
    ]
    assert run.versions.get().approved_at is None

    accept = reverse("generation:sentence_accept", args=[run.case_id, run.pk, 1, "how_we_met", 1])
    assert _messages(attorney.post(accept, {"reason": "   "}))[-1].startswith("The sentence was not accepted")
    assert run.versions.count() == 1
    attorney.post(accept, {"reason": "The client confirmed the city."})
    remove = reverse("generation:sentence_remove", args=[run.case_id, run.pk, 2, "how_we_met", 2])
    attorney.post(remove)
    assert run.versions.count() == 3

    response = attorney.post(reverse("generation:version_approve", args=[run.case_id, run.pk, 3]))
    assert _messages(response)[-1] == "Version 3 is approved and frozen."
    assert run.versions.get(number=3).approved_by == firm_people["attorney"]
    events = AuditEvent.objects.filter(actor=firm_people["attorney"], case=run.case)
    assert [(e.action, e.object_id) for e in events.filter(action__in=["accept_flag", "remove_sentence"])] == [
        ("remove_sentence", str(run.versions.get(number=3).pk)),
        ("accept_flag", str(run.versions.get(number=2).pk)),
    ]
    html = attorney.get(reverse("generation:run_detail", args=[run.case_id, run.pk])).content.decode()
    assert "accepted despite its flag by attorney" in html and "The client confirmed the city." in html
    assert "flag-judge flag-resolved" in html


def test_a_paralegal_may_neither_resolve_flags_nor_approve(firm_people: dict[str, Any]) -> None:
    run = flagged_run(firm_people["case"])
    paralegal = _client(firm_people, "paralegal")
    args = [run.case_id, run.pk, 1, "how_we_met", 1]
    assert paralegal.post(reverse("generation:sentence_accept", args=args), {"reason": "fine"}).status_code == 404
    assert paralegal.post(reverse("generation:sentence_remove", args=args)).status_code == 404
    assert paralegal.post(reverse("generation:version_approve", args=args[:3])).status_code == 404
    assert run.versions.count() == 1 and run.versions.get().approved_at is None


# --- the DRAFT mark -------------------------------------------------------------------------------------------


def _long(run: DeclarationRun) -> DraftVersion:
    story = "\n\n".join(f"Paragraph {n}: " + "Something happened that day. " * 30 for n in range(12))
    DraftSection.objects.filter(version__run=run, key="introduction").update(text=story)
    return run.versions.get()


def _pdf_pages(data: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def _docx_headers(data: bytes) -> list[str]:
    document = WordDocument(io.BytesIO(data))
    return [" ".join(p.text for p in section.header.paragraphs) for section in document.sections]


def test_an_unapproved_version_is_marked_draft_on_every_page_of_its_pdf_and_word_file(
    firm_people: dict[str, Any],
) -> None:
    version = _long(drafted_run(firm_people["case"]))
    pages = _pdf_pages(declaration_pdf(version))
    assert len(pages) > 2 and all(DRAFT_MARK in page for page in pages)
    headers = _docx_headers(declaration_docx(version))
    assert headers and all(header == DRAFT_MARK for header in headers)


def test_an_approved_version_exports_without_the_mark(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    version = do_approve_version(version=_long(run), approved_by=firm_people["attorney"])
    pages = _pdf_pages(declaration_pdf(version))
    assert len(pages) > 2 and not any("DRAFT" in page for page in pages)
    assert not any(header.strip() for header in _docx_headers(declaration_docx(version)))


def test_the_export_command_warns_that_an_unapproved_version_is_marked_draft(
    firm_people: dict[str, Any], tmp_path: Path
) -> None:
    run = drafted_run(firm_people["case"])
    out = tmp_path / "declaration.pdf"
    stdout, stderr = io.StringIO(), io.StringIO()
    args = ["export", "--run", str(run.pk), "--format", "pdf", "--out", str(out)]
    call_command(*args, stdout=stdout, stderr=stderr)
    assert (
        f'warning: version 1 of run {run.pk} is not approved by an attorney; every page is marked "{DRAFT_MARK}"'
        in (stderr.getvalue())
    )
    assert "not approved" in stdout.getvalue()
    assert all(DRAFT_MARK in page for page in _pdf_pages(out.read_bytes()))

    do_approve_version(version=run.versions.get(), approved_by=firm_people["attorney"])
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(*args, stdout=stdout, stderr=stderr)
    assert stderr.getvalue() == "" and "(approved)" in stdout.getvalue()
    assert not any(DRAFT_MARK in page for page in _pdf_pages(out.read_bytes()))
