"""The upload size limit is held while the request is read: one byte over is 413 and leaves nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from casework.models import Document
from casework.pdfgen import text_pdf
from casework.upload_limit import MULTIPART_ALLOWANCE_BYTES
from config.middleware import RequestBodyLimitMiddleware

pytestmark = pytest.mark.django_db


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


@pytest.fixture
def upload(firm_people: dict[str, Any], settings: Any, tmp_path: Path) -> dict[str, Any]:
    """A paralegal's client, the upload URL, and a PDF that is exactly the limit."""
    pdf = text_pdf(["A police report, filed the morning after."])
    settings.AFFIANT_MAX_UPLOAD_BYTES = len(pdf)
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()
    client = Client()
    client.force_login(firm_people["paralegal"])
    case = firm_people["case"]
    return {
        "client": client,
        "url": reverse("casework:document_upload", args=[case.pk]),
        "pdf": pdf,
        "case_dir": Path(settings.AFFIANT_STORAGE_DIR) / str(case.pk),
        "tmp_dir": Path(settings.FILE_UPLOAD_TEMP_DIR),
    }


def test_one_byte_over_the_limit_is_413_and_nothing_is_stored(upload: dict[str, Any]) -> None:
    response = upload["client"].post(upload["url"], {"file": SimpleUploadedFile("big.pdf", upload["pdf"] + b"\n")})
    assert response.status_code == 413
    page = response.content.decode()
    assert "big.pdf: The file is larger than the limit of" in page
    assert not Document.objects.exists()
    assert _files_under(upload["case_dir"]) == []
    assert _files_under(upload["tmp_dir"]) == []


def test_a_file_exactly_at_the_limit_is_accepted(upload: dict[str, Any], settings: Any) -> None:
    response = upload["client"].post(upload["url"], {"file": SimpleUploadedFile("report.pdf", upload["pdf"])})
    assert response.status_code == 302
    document = Document.objects.get()
    assert document.size == settings.AFFIANT_MAX_UPLOAD_BYTES
    assert len(_files_under(upload["case_dir"])) == 1
    assert _files_under(upload["tmp_dir"]) == []


def test_an_upload_at_the_largest_size_allowed_never_touches_the_disk_in_plaintext(
    firm_people: dict[str, Any], settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the shipped limits (not the fixture's): the whole request, a file of exactly
    AFFIANT_MAX_UPLOAD_BYTES in its form, is held in memory; no temporary file is made."""
    from django.core.files import uploadedfile

    def no_temporary_file(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an upload was written to a temporary file")

    monkeypatch.setattr(uploadedfile.TemporaryUploadedFile, "__init__", no_temporary_file)
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE >= settings.AFFIANT_MAX_UPLOAD_BYTES + MULTIPART_ALLOWANCE_BYTES
    pdf = text_pdf(["A protective order, granted."])
    pdf += b"%" + b"0" * (settings.AFFIANT_MAX_UPLOAD_BYTES - len(pdf) - 2) + b"\n"  # a PDF comment as padding
    assert len(pdf) == settings.AFFIANT_MAX_UPLOAD_BYTES
    client = Client()
    client.force_login(firm_people["paralegal"])
    url = reverse("casework:document_upload", args=[firm_people["case"].pk])
    response = client.post(url, {"file": SimpleUploadedFile("order.pdf", pdf)})
    assert response.status_code == 302
    assert Document.objects.get().size == settings.AFFIANT_MAX_UPLOAD_BYTES


def test_a_much_larger_upload_is_413_before_the_view(upload: dict[str, Any], settings: Any) -> None:
    oversized = upload["pdf"] + b"\0" * (MULTIPART_ALLOWANCE_BYTES + 1)
    response = upload["client"].post(upload["url"], {"file": SimpleUploadedFile("huge.pdf", oversized)})
    assert response.status_code == 413
    assert "The file is larger than the limit of" in response.content.decode()
    assert not Document.objects.exists()


class _UnreadableBody:
    def read(self, *args: Any) -> bytes:
        raise AssertionError("the body was read")

    readline = read


def test_a_request_declaring_more_than_any_upload_is_answered_without_reading_its_body(settings: Any) -> None:
    request = RequestFactory().post(
        "/cases/1/documents/upload/", data=b"", content_type="multipart/form-data; boundary=x"
    )
    request.META["CONTENT_LENGTH"] = str(settings.AFFIANT_MAX_UPLOAD_BYTES + MULTIPART_ALLOWANCE_BYTES + 1)
    request._stream = _UnreadableBody()  # type: ignore[assignment]
    request.user = AnonymousUser()  # as AuthenticationMiddleware, which runs before it, leaves it

    def view(request: HttpRequest) -> HttpResponse:
        raise AssertionError("the view ran")

    response = RequestBodyLimitMiddleware(view)(request)
    assert response.status_code == 413
