from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from casework.models import Case, PiiFinding
from casework.pdfgen import text_pdf
from tests.conftest import SAMPLE_PDFS

pytestmark = pytest.mark.django_db

CASE = {
    "title": "Doe - VAWA self-petition",
    "type": "vawa",
    "client": {"name": "Jane Marie Doe", "aliases": ["Janie Doe"], "birth_date": "1990-04-12",
               "a_number": "A# 123-456-789", "country": "Guatemala", "language": "Spanish"},
    "parties": [{"role": "abuser", "name": "John Roe", "status": "U.S. citizen"}],
    "consent_external": False,
}  # fmt: skip


def _run(tmp_path: Path, *files: Path, show_pii: bool = False) -> list[dict[str, object]]:
    case_json = tmp_path / "case.json"
    case_json.write_text(json.dumps(CASE))
    out = io.StringIO()
    call_command(
        "ingest", "--case-json", str(case_json), *(["--show-pii"] if show_pii else []), *map(str, files), stdout=out
    )
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_ingest_creates_the_case_reads_each_file_and_reports_it(tmp_path: Path) -> None:
    notes = tmp_path / "notes.pdf"
    notes.write_bytes(
        text_pdf(["Jane Doe (A123456789) told us that John Roe took her passport in May 2017 at 4410 Westheimer Rd."])
    )
    password = SAMPLE_PDFS / "005-libreoffice-writer-password_libreoffice-writer-password.pdf"
    image = SAMPLE_PDFS / "019-grayscale-image_grayscale-image.pdf"
    html = tmp_path / "report.pdf"
    html.write_text("<html>not a pdf</html>")
    lines = _run(tmp_path, notes, password, image, html, show_pii=True)
    by_file = {Path(str(line.get("file", ""))).name: line for line in lines[:-1]}
    assert by_file["notes.pdf"]["status"] == "indexed" and by_file["notes.pdf"]["chunks"] == 1
    assert by_file[password.name]["status"] == "needs_password"
    assert by_file[image.name]["status"] == "needs_ocr" and by_file[image.name]["pages"] == 1
    assert by_file["report.pdf"]["status"] == "rejected" and "not a PDF or Word" in str(by_file["report.pdf"]["error"])
    found: list[dict[str, str]] = by_file["notes.pdf"]["pii"]  # type: ignore[assignment]
    pii = {(p["type"], p["text"]) for p in found}
    assert ("A_NUMBER", "A123456789") in pii and ("PERSON", "John Roe") in pii
    case = Case.objects.get(title=CASE["title"])
    assert lines[-1] == {"case": case.pk}
    assert case.client is not None and case.client.a_number == "A123456789"
    assert PiiFinding.objects.filter(page__document__case=case, kind="A_NUMBER").exists()


def test_ingest_reuses_the_case_of_the_same_title(tmp_path: Path) -> None:
    first = _run(tmp_path, SAMPLE_PDFS / "001-trivial_minimal-document.pdf")
    second = _run(tmp_path, SAMPLE_PDFS / "001-trivial_minimal-document.pdf")
    assert first[-1] == second[-1]
    assert second[0]["status"] == "indexed" and "duplicate_of" in second[0]


def test_a_malformed_case_file_is_refused_with_the_key_at_fault(tmp_path: Path) -> None:
    case_json = tmp_path / "case.json"
    case_json.write_text(json.dumps({**CASE, "type": "u_visa"}))
    with pytest.raises(CommandError, match=r"case\.type must be one of"):
        call_command("ingest", "--case-json", str(case_json), str(SAMPLE_PDFS / "001-trivial_minimal-document.pdf"))
