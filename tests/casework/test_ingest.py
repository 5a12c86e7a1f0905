from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from casework.ingest import ingest_document
from casework.models import Document, DocumentStatus, Page
from casework.pdfgen import text_pdf
from casework.uploads import UploadRejected, do_store_upload
from tests.conftest import SAMPLE_PDFS, wait_until

FOUR_PAGES = SAMPLE_PDFS / "004-pdflatex-4-pages_pdflatex-4-pages.pdf"
PASSWORD = SAMPLE_PDFS / "005-libreoffice-writer-password_libreoffice-writer-password.pdf"
IMAGE_ONLY = SAMPLE_PDFS / "019-grayscale-image_grayscale-image.pdf"


def _store(case: Any, path: Path) -> Document:
    with path.open("rb") as handle:
        return do_store_upload(case=case, name=path.name, stream=handle, uploaded_by=None).document


@pytest.mark.django_db
def test_a_four_page_pdf_is_stored_page_by_page(firm_people: dict[str, Any]) -> None:
    document = _store(firm_people["case"], FOUR_PAGES)
    result = ingest_document(document.pk)
    assert result is not None and result.status == DocumentStatus.INDEXED
    pages = list(Page.objects.filter(document=document).order_by("number"))
    assert [p.number for p in pages] == [1, 2, 3, 4]
    assert all(len(p.text) > 1000 for p in pages)


@pytest.mark.django_db
def test_a_password_protected_pdf_fails_with_a_reason(firm_people: dict[str, Any]) -> None:
    document = _store(firm_people["case"], PASSWORD)
    ingest_document(document.pk)
    document.refresh_from_db()
    assert document.status == DocumentStatus.NEEDS_PASSWORD
    assert "password-protected" in document.error
    assert not document.pages.exists()


@pytest.mark.django_db
def test_pages_without_text_are_marked_as_needing_ocr(firm_people: dict[str, Any]) -> None:
    document = _store(firm_people["case"], IMAGE_ONLY)
    ingest_document(document.pk)
    document.refresh_from_db()
    assert document.status == DocumentStatus.NEEDS_OCR
    assert list(document.pages.values_list("needs_ocr", flat=True)) == [True]


@pytest.mark.django_db
def test_a_document_is_ingested_once_even_if_its_task_is_delivered_twice(firm_people: dict[str, Any]) -> None:
    document = _store(firm_people["case"], FOUR_PAGES)
    assert ingest_document(document.pk) is not None
    assert ingest_document(document.pk) is None
    assert document.pages.count() == 4


@pytest.mark.django_db
def test_a_duplicate_upload_is_recognised_and_not_stored_twice(firm_people: dict[str, Any], settings: Any) -> None:
    case = firm_people["case"]
    first = _store(case, FOUR_PAGES)
    with FOUR_PAGES.open("rb") as handle:
        again = do_store_upload(case=case, name="copy.pdf", stream=handle, uploaded_by=None)
    assert again.duplicate and again.document.pk == first.pk
    stored = list((Path(settings.AFFIANT_STORAGE_DIR) / str(case.pk)).glob("*.pdf"))
    assert stored == [Path(settings.AFFIANT_STORAGE_DIR) / first.stored_name]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"", "empty"), (b"<html><body>not a pdf</body></html>", "not a PDF")],
)
def test_files_that_are_not_pdfs_are_rejected_and_leave_nothing(
    firm_people: dict[str, Any], settings: Any, payload: bytes, reason: str
) -> None:
    case = firm_people["case"]
    with pytest.raises(UploadRejected, match=reason):
        do_store_upload(case=case, name="x.pdf", stream=io.BytesIO(payload), uploaded_by=None)
    assert not Document.objects.exists()
    assert not list((Path(settings.AFFIANT_STORAGE_DIR) / str(case.pk)).iterdir())


@pytest.mark.django_db
def test_an_upload_over_the_size_limit_is_rejected(firm_people: dict[str, Any], settings: Any) -> None:
    settings.AFFIANT_MAX_UPLOAD_BYTES = 1000
    pdf = text_pdf(["x" * 50] * 20)
    assert len(pdf) > 1000
    with pytest.raises(UploadRejected, match="larger than the limit"):
        do_store_upload(case=firm_people["case"], name="big.pdf", stream=io.BytesIO(pdf), uploaded_by=None)
    assert not Document.objects.exists()


@pytest.mark.realstack
def test_pdfs_uploaded_through_the_web_form_are_read_by_the_worker(
    realstack: Any, firm_people: dict[str, Any], tmp_path: Path
) -> None:
    case = firm_people["case"]
    client = Client()
    client.force_login(firm_people["paralegal"])
    upload_url = reverse("casework:document_upload", args=[case.pk])
    # A name the browser sends is never trusted: give the password-protected file an innocent one.
    renamed = tmp_path / "intake.pdf"
    shutil.copy(PASSWORD, renamed)
    for path in (FOUR_PAGES, renamed):
        with path.open("rb") as handle:
            response = client.post(upload_url, {"file": handle})
        assert response.status_code == 302
    good = Document.objects.get(case=case, original_name=FOUR_PAGES.name)
    locked = Document.objects.get(case=case, original_name="intake.pdf")

    def finished() -> bool:
        statuses = set(Document.objects.filter(case=case).values_list("status", flat=True))
        return not statuses & {DocumentStatus.QUEUED, DocumentStatus.PROCESSING}

    wait_until(finished, 60, "the worker to read both uploads")
    good.refresh_from_db()
    locked.refresh_from_db()
    assert good.status == DocumentStatus.INDEXED and good.page_count == 4
    assert list(good.pages.values_list("number", flat=True)) == [1, 2, 3, 4]
    assert locked.status == DocumentStatus.NEEDS_PASSWORD
    assert "password-protected" in locked.error
    page = client.get(reverse("casework:case_detail", args=[case.pk])).content.decode()
    assert "password-protected" in page and "Indexed" in page


@pytest.mark.realstack
def test_hostile_uploads_are_rejected_by_the_worker_which_stays_alive(
    realstack: Any, firm_people: dict[str, Any], tmp_path: Path
) -> None:
    import zlib

    # A Flate bomb: a page content stream of 2 MB that inflates to 2 GiB of zeros.
    compressor = zlib.compressobj(9)
    block = b"\0" * 2**20
    bomb_stream = b"".join(compressor.compress(block) for _ in range(2048)) + compressor.flush()
    bomb = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
        + f"4 0 obj<</Length {len(bomb_stream)}/Filter/FlateDecode>>stream\n".encode()
        + bomb_stream
        + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%EOF\n"
    )
    cyclic = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[2 0 R]/Count 1>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%EOF\n"
    )
    good = FOUR_PAGES.read_bytes()
    files = {"bomb.pdf": bomb, "cyclic.pdf": cyclic, "truncated.pdf": good[: len(good) // 2], "fine.pdf": good}
    client = Client()
    client.force_login(firm_people["paralegal"])
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        with path.open("rb") as handle:
            client.post(reverse("casework:document_upload", args=[firm_people["case"].pk]), {"file": handle})

    def finished() -> bool:
        return not Document.objects.filter(status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING]).exists()

    wait_until(finished, 120, "the worker to read all four")
    outcome = {d.original_name: (d.status, d.error) for d in Document.objects.all()}
    # Each is refused with a reason (the parser's own tests pin which reason for which file).
    assert outcome["bomb.pdf"][0] == DocumentStatus.REJECTED and outcome["bomb.pdf"][1]
    assert outcome["cyclic.pdf"][0] == DocumentStatus.REJECTED and outcome["cyclic.pdf"][1]
    assert outcome["truncated.pdf"][0] in (DocumentStatus.REJECTED, DocumentStatus.INDEXED)
    assert outcome["fine.pdf"][0] == DocumentStatus.INDEXED  # read by the same worker after the others


@pytest.mark.django_db
def test_a_document_left_half_read_is_read_again_then_set_aside_after_three_tries(
    firm_people: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from casework.reconcile import reconcile_documents

    long_ago = timezone.now() - timedelta(hours=2)
    retry = _store(firm_people["case"], FOUR_PAGES)
    poison = _store(firm_people["case"], IMAGE_ONLY)
    recent = _store(firm_people["case"], PASSWORD)
    Document.objects.filter(pk=retry.pk).update(status=DocumentStatus.PROCESSING, claimed_at=long_ago, attempts=1)
    Document.objects.filter(pk=poison.pk).update(status=DocumentStatus.PROCESSING, claimed_at=long_ago, attempts=3)
    Document.objects.filter(pk=recent.pk).update(
        status=DocumentStatus.PROCESSING, claimed_at=timezone.now(), attempts=1
    )
    with django_capture_on_commit_callbacks() as queued:
        assert reconcile_documents() == (1, 1)
    assert len(queued) == 1  # the retry is sent to a worker again
    statuses = {d.pk: (d.status, d.error) for d in Document.objects.all()}
    assert statuses[retry.pk][0] == DocumentStatus.QUEUED
    assert statuses[poison.pk][0] == DocumentStatus.REJECTED and "stopped the worker 3 times" in statuses[poison.pk][1]
    assert statuses[recent.pk][0] == DocumentStatus.PROCESSING
    # A claim counts the attempt.
    ingest_document(retry.pk)
    retry.refresh_from_db()
    assert retry.attempts == 2 and retry.status == DocumentStatus.INDEXED


@pytest.mark.django_db
def test_a_document_queued_whose_message_was_lost_is_sent_again_once_per_period(
    firm_people: dict[str, Any], django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from casework.reconcile import reconcile_documents

    sent: list[int] = []
    monkeypatch.setattr("casework.tasks.ingest_document_task.delay", lambda document_id: sent.append(document_id))
    lost = _store(firm_people["case"], FOUR_PAGES)
    waiting = _store(firm_people["case"], IMAGE_ONLY)
    Document.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert reconcile_documents() == (1, 0)
        assert reconcile_documents() == (0, 0)  # sent just now: not again until another period passes
    assert sent == [lost.pk]  # the one sent a moment ago is still on its way
    ingest_document(lost.pk)
    lost.refresh_from_db()
    assert lost.status == DocumentStatus.INDEXED and lost.attempts == 1
    assert Document.objects.get(pk=waiting.pk).status == DocumentStatus.QUEUED
