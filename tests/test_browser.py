"""Through Debian's Chromium: the whole flow of a declaration, from upload to the signed-off Word file,
an attorney's edit on a prepared draft, and the attorney's gate: approval refused while a flag is open.

The flow runs on the real workers, queues and database; its model is the scripted OpenAI-compatible
server answering from the excerpts it is sent, so the screens always have a draft to show. (Gemma 270M
sometimes extracts nothing usable for a section; the real model's runs are tested in
tests/generation/test_pipeline_realstack.py and by the demo test.)"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from docx import Document as WordDocument

from casework.demo import DEMO_CASE_TITLE, DEMO_LOGINS, seed_demo
from casework.models import Firm, Role
from casework.pdfgen import text_pdf
from generation.declarations import ATTESTATION
from generation.export import DRAFT_MARK
from generation.models import DeclarationRun, DraftSection, DraftVersion, RunStatus
from tests.conftest import make_case, make_user
from tests.faultserver import FaultServer
from tests.scripted import answer_from_what_was_sent, route_every_stage_to, scripted_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _demo_draft(monkeypatch: pytest.MonkeyPatch) -> DeclarationRun:
    """The demo case with a finished draft, as the pipeline leaves it (the pipeline has its own tests). Its
    documents are not queued for reading: a worker left by an earlier real-stack test would be writing their
    pages while the live server's database is emptied after the test (a deadlock there, once)."""
    monkeypatch.setattr("casework.tasks.ingest_document_task.delay", lambda *args, **kwargs: None)
    case = seed_demo()
    run = DeclarationRun.objects.create(
        case=case, template="vawa", template_version=1, status=RunStatus.COMPLETED,
        created_by=User.objects.get(username="paralegal"),
    )  # fmt: skip
    version = DraftVersion.objects.create(run=run, number=1, note="Drafted by the pipeline")
    DraftSection.objects.create(
        version=version, key="introduction", heading="Introduction", order=0,
        text="I, Maria Elena Ramírez López, was born on April 12, 1990 in Quetzaltenango, Guatemala.",
    )  # fmt: skip
    DraftSection.objects.create(
        version=version, key="how_we_met", heading="How we met", order=1,
        text="I met Daniel Robert Hayes in March 2015 at a church picnic in Houston.",
    )  # fmt: skip
    return run


def test_attorney_logs_in_edits_the_draft_and_sees_version_2(
    live_server: Any, chromium: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _demo_draft(monkeypatch)
    attorney = next(login for login in DEMO_LOGINS if login.username == "attorney")
    page = chromium.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", attorney.username)
        page.fill("#id_password", attorney.password)
        page.click("button[type=submit]")
        page.click(f"text={DEMO_CASE_TITLE}")
        page.wait_for_selector("h1")
        assert page.inner_text("h1") == DEMO_CASE_TITLE
        page.click(f"text=Draft {run.pk}")
        assert page.inner_text("#version-label") == "Version 1"
        page.click("text=Edit draft")
        edited = "I met Daniel Robert Hayes on March 22, 2015 at the St. Anne's parish picnic in Houston."
        page.fill("textarea[name=section_how_we_met]", edited)
        page.fill("input[name=note]", "Exact date from the client")
        page.click("text=Save as version 2")
        page.wait_for_selector("#version-label")
        assert page.inner_text("#version-label") == "Version 2"
        assert edited in page.inner_text("section[data-section=how_we_met]")
        page.click("a[href='?version=1']")
        assert page.inner_text("#version-label") == "Version 1"
        assert "March 2015 at a church picnic" in page.inner_text("section[data-section=how_we_met]")
    finally:
        page.close()
    assert list(run.versions.values_list("number", flat=True)) == [1, 2]
    assert run.versions.get(number=2).created_by == User.objects.get(username="attorney")


INTAKE = (
    "CLIENT INTAKE NOTES\n\nJane Doe was born on May 4, 1991 in San Pedro Sula, Honduras. She is a citizen of "
    "Honduras.\n\nJane met John Roe in June 2016 at a community festival in Houston. They married on "
    "August 12, 2017 at the Harris County courthouse."
)
POLICE = (
    "HOUSTON POLICE DEPARTMENT INCIDENT REPORT\n\nOn March 3, 2020 officers responded to a call from Jane Doe. "
    "She stated that her husband John Roe pushed her against a wall and took her passport."
)
PASSWORD = "a-long-test-password-1"


def log_in(browser: Any, base_url: str, username: str) -> Any:
    page = browser.new_context(accept_downloads=True).new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Log out")
    return page


def resolve_open_flags(page: Any) -> int:
    """Accept every open flag on the draft page with a reason, one version each; how many were open."""
    resolved = 0
    while page.query_selector(".open-flag .accept-sentence") is not None:
        form = page.locator(".open-flag .accept-sentence").first
        form.locator("input[name=reason]").fill("Checked against the client's own account.")
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
        resolved += 1
    return resolved


def _docx_headers(data: bytes) -> list[str]:
    return [" ".join(p.text for p in s.header.paragraphs) for s in WordDocument(io.BytesIO(data)).sections]


def test_approval_is_refused_while_a_flag_is_open_and_allowed_once_the_attorney_resolves_it(
    live_server: Any, chromium: Any
) -> None:
    firm = Firm.objects.create(name="Gate Firm")
    attorney = make_user(firm, Role.ATTORNEY, "g-attorney")
    case = make_case(firm, [attorney], title="Doe - VAWA (gate)")
    run = DeclarationRun.objects.create(
        case=case, template="vawa", template_version=1, status=RunStatus.COMPLETED, created_by=attorney
    )
    version = DraftVersion.objects.create(run=run, number=1, note="Drafted by the pipeline")
    judge = {"kind": "judge", "by": "judge 1 (judge_a)", "reason": "no fact says where they married"}
    weak = {"kind": "weak_support", "by": "BERTScore", "reason": "weakly supported by its cited passages"}
    sentences = [
        ("I met John Roe in June 2016 at a community festival in Houston.", []),
        ("We married in Dallas.", [judge]),
        ("He was kind at first.", [weak]),
    ]
    DraftSection.objects.create(
        version=version, key="how_we_met", heading="How we met", order=0,
        text=" ".join(text for text, _ in sentences),
        sentences=[
            {"text": text, "facts": ["F1"], "chunks": [], "pages": [], "flags": flags, "bertscore": 0.9}
            for text, flags in sentences
        ],
    )  # fmt: skip
    page = log_in(chromium, live_server.url, "g-attorney")
    try:
        page.goto(f"{live_server.url}/cases/{case.pk}/runs/{run.pk}/")
        assert page.inner_text("#open-count").startswith("2 flags are open")
        assert "no fact says where they married" in page.inner_text("section[data-section=how_we_met] .open-flags")
        with page.expect_download() as download:
            page.click("#download-docx")
        assert _docx_headers(Path(download.value.path()).read_bytes()) == [DRAFT_MARK]

        # Approving is refused, with the number of open flags and where they are.
        page.click("#approve")
        page.wait_for_selector(".messages")
        assert "2 flags are open — How we met: sentences 2 and 3." in page.inner_text(".messages")
        assert page.query_selector("#approved") is None

        # The attorney accepts the judge's flag with a reason, and removes the weakly supported sentence.
        accept = page.locator(".open-flag[data-index='1'] .accept-sentence")
        accept.locator("input[name=reason]").fill("The client confirmed they married in Dallas.")
        accept.locator("button[type=submit]").click()
        page.wait_for_selector("text=Sentence 2 accepted with your reason; saved as version 2.")
        assert page.inner_text("#open-count").startswith("1 flag is open")
        assert "The client confirmed they married in Dallas." in page.inner_text(".accepted-flags")
        page.click("#approve")
        page.wait_for_selector("text=1 flag is open — How we met: sentence 3.")
        page.click(".open-flag[data-index='2'] .remove-sentence button")
        page.wait_for_selector("text=Sentence 3 removed; saved as version 3.")
        assert page.query_selector("#open-count") is None
        assert "He was kind at first." not in page.inner_text("section[data-section=how_we_met]")

        page.click("#approve")
        page.wait_for_selector("#approved")
        assert page.inner_text("#version-label") == "Version 3"
        with page.expect_download() as download:
            page.click("#download-docx")
        assert not any(h.strip() for h in _docx_headers(Path(download.value.path()).read_bytes()))
    finally:
        page.close()
    latest = run.versions.get(number=3)
    assert latest.approved_by == attorney
    assert latest.sections.get().sentences[1]["flags"][0]["resolved"]["reason"] == (
        "The client confirmed they married in Dallas."
    )


@pytest.fixture
def scripted_stages(realstack: Any) -> Iterator[FaultServer]:
    """Every stage's route on the scripted server (its calls go through the `api` queue's worker)."""
    with FaultServer() as server:
        server.responder = answer_from_what_was_sent
        route_every_stage_to(scripted_model(server, "scripted", queue_name="api"))
        yield server


@pytest.mark.realstack
def test_from_upload_to_the_approved_word_file(
    realstack: Any, scripted_stages: FaultServer, live_server: Any, chromium: Any, tmp_path: Path
) -> None:
    firm = Firm.objects.create(name="Browser Firm")
    attorney = make_user(firm, Role.ATTORNEY, "b-attorney")
    paralegal = make_user(firm, Role.PARALEGAL, "b-paralegal")
    case = make_case(firm, [attorney, paralegal], title="Doe - VAWA (browser)")
    for name, text in (("intake.pdf", INTAKE), ("police-report.pdf", POLICE)):
        (tmp_path / name).write_bytes(text_pdf([text]))
    case_url = f"{live_server.url}/cases/{case.pk}/"

    # The paralegal uploads two PDFs, watches them being read, starts the run and watches it to the end.
    page = log_in(chromium, live_server.url, "b-paralegal")
    page.goto(case_url)
    for name in ("intake.pdf", "police-report.pdf"):
        page.set_input_files("input[name=file]", str(tmp_path / name))
        page.click("form[enctype='multipart/form-data'] button[type=submit]")
        page.wait_for_selector(f"#documents >> text={name}")
    page.locator("#documents .status-indexed").nth(1).wait_for(timeout=120_000)  # both read (the list refreshes)
    page.click("text=Draft the declaration")
    page.wait_for_selector("#run-progress table.progress")  # live progress, section by section
    page.wait_for_selector("#version-label", timeout=900_000)  # the page reloads itself when the run is done
    run = case.runs.get()
    assert page.inner_text("[data-run-status]") == "Completed", [
        (s.key, s.status, s.note, s.facts, [(st.stage, st.call.output if st.call else "") for st in s.steps.all()])
        for s in run.sections.all()
    ]
    run_url = page.url.split("?")[0]
    assert page.query_selector("#approve") is None and page.query_selector("#download-docx") is None
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(f"{run_url}versions/1/approve/", headers={"X-CSRFToken": csrf, "Referer": run_url})
    assert refused.status in (403, 404)
    page.close()

    # The attorney checks a sentence against its page, edits, compares, approves and downloads.
    page = log_in(chromium, live_server.url, "b-attorney")
    page.goto(run_url)
    assert page.inner_text("#version-label") == "Version 1"
    page.click("section[data-section='introduction'] .sentence:not(.uncited)")  # her name: from the case record
    page.wait_for_selector("#evidence-panel .cited-record")
    assert "Case record" in page.inner_text("#evidence-panel .cited-record h3")
    page.click("section[data-section='how_we_met'] .sentence:not(.uncited)")
    page.wait_for_selector("#evidence-panel .cited-page")
    assert page.inner_text("#evidence-panel .cited-page h3").endswith(", page 1")
    assert page.inner_text("#evidence-panel .cited-page mark").strip()  # the cited passage, marked
    section = page.query_selector("section[data-section]:has(.sentence)")
    key = section.get_attribute("data-section")
    section.query_selector("details.edit-section summary").click()
    edited = "I, Jane Doe, state this section in my own words after reading it with my attorney."
    section.query_selector("textarea[name=text]").fill(edited)
    section.query_selector("details.edit-section button[type=submit]").click()
    page.wait_for_selector("text=Saved as version 2")
    assert page.inner_text("#version-label") == "Version 2"
    assert edited in page.inner_text(f"section[data-section={key}]")

    page.select_option("#compare-form select[name=a]", "1")
    page.select_option("#compare-form select[name=b]", "2")
    page.click("#compare-form button")
    page.wait_for_selector("#compare-summary")
    assert page.inner_text("#compare-summary").startswith("1 section changed")
    assert "my own words" in " ".join(page.locator(f"section[data-section={key}] ins").all_inner_texts())
    page.go_back()

    # Whatever the run left flagged stands between the draft and approval until the attorney resolves it.
    page.reload()
    if page.query_selector("#open-count") is not None:
        page.click("#approve")
        page.wait_for_selector("text=Edit the sentence, remove it, or accept it with a reason before approving.")
        assert page.query_selector("#approved") is None
    resolve_open_flags(page)
    page.click("#approve")
    page.wait_for_selector("#approved")
    with page.expect_download() as download:
        page.click("#download-docx")
    word = WordDocument(io.BytesIO(Path(download.value.path()).read_bytes()))
    headings = [p.text for p in word.paragraphs if p.style is not None and str(p.style.name).startswith("Heading")]
    texts = [p.text for p in word.paragraphs]
    assert {"Introduction", "How we met", "Attestation"} <= set(headings)
    assert ATTESTATION in texts and edited in texts
    page.close()
    latest = run.latest_version()
    assert latest is not None and latest.approved_by == attorney
