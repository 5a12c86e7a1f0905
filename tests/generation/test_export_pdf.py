from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from docx import Document as WordDocument
from pypdf import PdfReader

from casework.models import AuditEvent, Party
from generation import export
from generation.declarations import ATTESTATION
from generation.export import DeclarationPDF, declaration_blocks, declaration_docx, declaration_pdf, pdf_fonts
from generation.models import DraftSection
from tests.generation.test_versions import drafted_run

pytestmark = pytest.mark.django_db

# Typographic punctuation and a second script, as real statements have them.
STATEMENT = "Me llamo María — I came “here” in 2015.\n\nMy brother’s name is Андрей."  # noqa: RUF001


def _pdf_pages(data: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(data))
    return [" ".join(page.extract_text().split()) for page in reader.pages]  # lines joined, as a reader sees them


def _client_speaks(run: Any, *, name: str = "Jane Doe", language: str = "") -> None:
    Party.objects.filter(case=run.case, role="client").update(name=name, language=language)


def test_the_pdf_has_the_declaration_headings_paragraphs_attestation_and_signature(
    firm_people: dict[str, Any],
) -> None:
    run = drafted_run(firm_people["case"])
    text = " ".join(_pdf_pages(declaration_pdf(run.versions.get())))
    for part in ("Declaration of Jane Doe", "I, Jane Doe, declare as follows:", "Introduction", "How we met"):
        assert part in text
    assert "I am Jane." in text and ATTESTATION in text and "Signature" in text and "Date" in text
    assert "No passage speaks to this." not in text  # notes to the attorney stay out of the declaration
    assert "Certificate of interpreter" not in text  # the fixture's client has no language other than English


def test_a_spanish_speaking_client_gets_an_interpreter_certificate_and_her_name_round_trips(
    firm_people: dict[str, Any],
) -> None:
    run = drafted_run(firm_people["case"])
    _client_speaks(run, name="Ramírez López", language="Spanish")
    DraftSection.objects.filter(version__run=run, key="introduction").update(text=STATEMENT)
    text = " ".join(_pdf_pages(declaration_pdf(run.versions.get())))
    assert "Declaration of Ramírez López" in text
    assert "Certificate of interpreter" in text and "from Spanish into English" in text
    assert "read the foregoing declaration to Ramírez López in Spanish" in text
    assert "Me llamo María — I came “here” in 2015." in text and "Андрей" in text  # an embedded TTF has them all


def test_every_page_has_a_numbered_footer(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    long_story = "\n\n".join(f"Paragraph {n}: " + "Something happened that day. " * 30 for n in range(12))
    DraftSection.objects.filter(version__run=run, key="introduction").update(text=long_story)
    pages = _pdf_pages(declaration_pdf(run.versions.get()))
    assert len(pages) > 2
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
    assert "Paragraph 11:" in " ".join(pages)


def test_the_pdf_is_letter_sized_and_embeds_its_font(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    reader = PdfReader(io.BytesIO(declaration_pdf(run.versions.get())))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    resources: Any = reader.pages[0]["/Resources"]  # pypdf resolves the indirect objects as it indexes
    descriptors = [font["/DescendantFonts"][0]["/FontDescriptor"] for font in resources["/Font"].values()]
    assert pdf_fonts(), "no TrueType font found: neither a system serif nor matplotlib's DejaVu"
    assert descriptors and all("/FontFile2" in descriptor for descriptor in descriptors)  # embedded, not named


def test_on_a_machine_without_system_fonts_the_pdf_embeds_matplotlib_dejavu(
    firm_people: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(export, "SYSTEM_FONTS", tmp_path / "no-fonts-here")
    export.pdf_fonts.cache_clear()
    try:
        fonts = export.pdf_fonts()
        assert [f.regular.name for f in fonts] == ["DejaVuSerif.ttf", "DejaVuSans.ttf"]
        assert all("matplotlib" in f.regular.parts for f in fonts)
        run = drafted_run(firm_people["case"])
        _client_speaks(run, name="Ramírez López")
        assert "Declaration of Ramírez López" in " ".join(_pdf_pages(declaration_pdf(run.versions.get())))
    finally:
        export.pdf_fonts.cache_clear()


def test_without_any_truetype_font_the_pdf_falls_back_to_times_and_still_exports(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    _client_speaks(run, name="Ramírez López", language="Spanish")
    DraftSection.objects.filter(version__run=run, key="introduction").update(text=STATEMENT)
    pdf = DeclarationPDF(fonts=())
    pdf.add_page()
    for block in declaration_blocks(run.versions.get()):
        pdf.write_block(block)
    text = " ".join(_pdf_pages(bytes(pdf.output())))
    assert "Ramírez López" in text and "Me llamo María — I came “here” in 2015." in text
    assert "Андрей" not in text and "??????" in text  # beyond Windows-1252: replaced, not a failed export


def test_the_word_and_pdf_exports_say_the_same_thing(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    _client_speaks(run, language="Spanish")
    version = run.versions.get()
    word = [p.text for p in WordDocument(io.BytesIO(declaration_docx(version))).paragraphs]
    pdf = " ".join(_pdf_pages(declaration_pdf(version)))
    for paragraph in word:
        for line in paragraph.split("\n"):
            assert " ".join(line.split()) in pdf


def test_export_command_writes_a_pdf_of_the_latest_version(firm_people: dict[str, Any], tmp_path: Path) -> None:
    run = drafted_run(firm_people["case"])
    out = tmp_path / "declaration.pdf"
    stdout = io.StringIO()
    call_command("export", "--run", str(run.pk), "--format", "pdf", "--out", str(out), stdout=stdout)
    assert out.read_bytes().startswith(b"%PDF-")
    assert "Introduction" in " ".join(_pdf_pages(out.read_bytes()))
    assert f"wrote version 1 of run {run.pk}" in stdout.getvalue()


def test_the_pdf_download_is_for_the_assigned_attorney_and_audited(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    url = reverse("generation:version_export_pdf", args=[run.case_id, run.pk, 1])
    assert url.endswith(f"/runs/{run.pk}/versions/1/pdf/")
    paralegal = Client()
    paralegal.force_login(firm_people["paralegal"])
    assert paralegal.get(url).status_code == 404
    attorney = Client()
    attorney.force_login(firm_people["attorney"])
    response = attorney.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"] == f'attachment; filename="declaration-run{run.pk}-v1.pdf"'
    assert "I am Jane." in " ".join(_pdf_pages(response.content))
    assert AuditEvent.objects.filter(action="export", actor=firm_people["attorney"]).count() == 1
