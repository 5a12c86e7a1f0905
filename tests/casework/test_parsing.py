"""Parsing uploads in a limited child process: the sample PDFs, hostile files and Word documents.

No database: `casework.parsing` runs without Django, and so do these tests.
"""

from __future__ import annotations

import bz2
import io
import logging
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from casework import parsing
from casework.parsing import (
    DAMAGED,
    DOCX,
    EMPTY,
    INDEXED,
    NEEDS_OCR,
    NEEDS_PASSWORD,
    NOT_ACCEPTED,
    PDF,
    REJECTED,
    TOO_BIG,
    TOO_LONG,
    ParseResult,
    parse_file,
    sniff,
    sniff_file,
)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "sample-pdfs"
PASSWORD_PROTECTED = "005-libreoffice-writer-password_libreoffice-writer-password.pdf"
NO_TESSERACT = shutil.which("tesseract") is None
NEEDS_TESSERACT = pytest.mark.skipif(
    NO_TESSERACT, reason="tesseract is not on PATH (apt-get install -y tesseract-ocr); so OCR is not tested here"
)

# What every sample ends as without OCR. The image-only ones hold scans with no text layer.
EXPECTED_WITHOUT_OCR = {
    "001-trivial_minimal-document.pdf": INDEXED,
    "002-trivial-libre-office-writer_002-trivial-libre-office-writer.pdf": INDEXED,
    "003-pdflatex-image_pdflatex-image.pdf": INDEXED,
    "004-pdflatex-4-pages_pdflatex-4-pages.pdf": INDEXED,
    PASSWORD_PROTECTED: NEEDS_PASSWORD,
    "006-pdflatex-outline_pdflatex-outline.pdf": INDEXED,
    "007-imagemagick-images_imagemagick-ASCII85Decode.pdf": NEEDS_OCR,
    "007-imagemagick-images_imagemagick-CCITTFaxDecode.pdf": NEEDS_OCR,
    "007-imagemagick-images_imagemagick-images.pdf": NEEDS_OCR,
    "007-imagemagick-images_imagemagick-lzw.pdf": NEEDS_OCR,
    "008-reportlab-inline-image_inline-image.pdf": INDEXED,
    "010-pdflatex-forms_pdflatex-forms.pdf": INDEXED,
    "011-google-doc-document_google-doc-document.pdf": INDEXED,
    "012-libreoffice-form_libreoffice-form.pdf": INDEXED,
    "013-reportlab-overlay_reportlab-overlay.pdf": INDEXED,
    "014-outlines_mistitled_outlines_example.pdf": INDEXED,
    "015-arabic_habibi-oneline-cmap.pdf": INDEXED,
    "015-arabic_habibi-rotated.pdf": INDEXED,
    "015-arabic_habibi.pdf": INDEXED,
    "016-libre-office-link_libre-office-link.pdf": INDEXED,
    "019-grayscale-image_grayscale-image.pdf": NEEDS_OCR,
    "020-xmp_output_with_metadata_pymupdf.pdf": INDEXED,
    "021-pdfa_crazyones-pdfa.pdf": INDEXED,
    "022-pdfkit_pdfkit.pdf": INDEXED,
    "023-cmyk-image_cmyk-image.pdf": NEEDS_OCR,
    "024-annotations_annotated_pdf.pdf": INDEXED,
    "025-attachment_with-attachment.pdf": INDEXED,
    "026-latex-multicolumn_multicolumn.pdf": INDEXED,
}
IMAGE_ONLY = sorted(name for name, outcome in EXPECTED_WITHOUT_OCR.items() if outcome == NEEDS_OCR)


@pytest.fixture(autouse=True)
def _no_stray_processes() -> Iterator[None]:
    """Each parse reaps its child, killed or not, and the test process lives on to check it."""
    me = psutil.Process()
    before = {child.pid for child in me.children(recursive=True)}
    yield
    left = [child for child in me.children(recursive=True) if child.pid not in before and not _browsers(child)]
    assert not left, f"processes left behind: {[child.cmdline() for child in left]}"


def _browsers(process: psutil.Process) -> bool:
    """The session's Chromium (the browser tests keep one open) starts helper processes when it likes."""
    try:
        return "chromium" in process.name() or any("chromium" in p.name() for p in process.parents())
    except psutil.Error:
        return True  # gone already: not left behind


def test_every_sample_pdf_is_listed() -> None:
    assert sorted(path.name for path in SAMPLES.glob("*.pdf")) == sorted(EXPECTED_WITHOUT_OCR)


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED_WITHOUT_OCR.items()))
def test_sample_pdf_without_ocr_ends_as_expected(name: str, expected: str) -> None:
    result = parse_file(SAMPLES / name, max_pages=500, ocr=False)

    assert (result.outcome, result.content_type) == (expected, PDF)
    if expected != NEEDS_PASSWORD:
        assert result.reason == ""
    if expected == INDEXED:
        assert result.pages and all(page.text and not page.ocr for page in result.pages)
    if expected == NEEDS_OCR:
        assert any(page.text == "" for page in result.pages)
        assert [page.number for page in result.pages] == list(range(1, len(result.pages) + 1))


def test_password_protected_pdf_asks_for_its_password() -> None:
    result = parse_file(SAMPLES / PASSWORD_PROTECTED, max_pages=500, ocr=False)

    assert (result.outcome, result.pages) == (NEEDS_PASSWORD, ())
    assert "password" in result.reason


def test_password_protected_pdf_opens_with_its_user_password() -> None:
    password = "openpassword"
    assert f"`{password}`" in (SAMPLES / "005-password-README.md").read_text()

    result = parse_file(SAMPLES / PASSWORD_PROTECTED, max_pages=500, password=password, ocr=False)

    assert result.outcome == INDEXED
    assert len(result.pages) == 1 and len(result.pages[0].text) > 100


def test_wrong_password_still_needs_the_password() -> None:
    result = parse_file(SAMPLES / PASSWORD_PROTECTED, max_pages=500, password="not-it", ocr=False)

    assert (result.outcome, result.reason) == (NEEDS_PASSWORD, parsing.PASSWORD_WRONG)


def test_pdf_locked_only_against_printing_opens_without_a_password(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(SAMPLES / "001-trivial_minimal-document.pdf"))
    writer.encrypt(user_password="", owner_password="owner-only", algorithm="AES-128")
    locked = tmp_path / "locked.pdf"
    writer.write(locked)

    result = parse_file(locked, max_pages=5, ocr=False)

    assert result.outcome == INDEXED


@pytest.mark.parametrize(
    ("shown", "outcome"),
    [(b"", NEEDS_OCR), (b"7", NEEDS_OCR), (b"1 2", NEEDS_OCR), (b"Yes", INDEXED)],
)
def test_a_page_needs_three_visible_characters_to_count_as_text(tmp_path: Path, shown: bytes, outcome: str) -> None:
    page = tmp_path / "page.pdf"
    page.write_bytes(_pdf_with_pages([_stream(zlib.compress(b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % shown))]))

    result = parse_file(page, max_pages=5, ocr=False)

    assert result.outcome == outcome
    assert result.pages[0].text == ("" if outcome == NEEDS_OCR else shown.decode())


@NEEDS_TESSERACT
@pytest.mark.parametrize("name", IMAGE_ONLY)
def test_image_only_sample_with_ocr_is_indexed_exactly_when_tesseract_reads_every_page(name: str) -> None:
    without = parse_file(SAMPLES / name, max_pages=500, ocr=False)
    result = parse_file(SAMPLES / name, max_pages=500, ocr=True)

    assert len(result.pages) == len(without.pages)
    assert result.outcome == (INDEXED if all(page.text for page in result.pages) else NEEDS_OCR)
    assert all(page.text for page in result.pages if page.ocr)


@NEEDS_TESSERACT
def test_scanned_page_is_read_by_ocr(tmp_path: Path) -> None:
    scan = _scanned_pdf(tmp_path / "scan.pdf", lines=["Declaration of Maria", "under penalty of perjury"])

    result = parse_file(scan, max_pages=5)

    assert result.outcome == INDEXED
    assert result.pages[0].ocr
    assert "Declaration" in result.pages[0].text and "perjury" in result.pages[0].text


def test_scanned_page_without_ocr_needs_ocr(tmp_path: Path) -> None:
    scan = _scanned_pdf(tmp_path / "scan.pdf", lines=["Declaration of Maria"])

    result = parse_file(scan, max_pages=5, ocr=False)

    assert result.outcome == NEEDS_OCR
    assert result.pages == (parsing.ParsedPage(number=1, text="", ocr=False),)


def test_scanned_page_needs_ocr_when_tesseract_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scan = _scanned_pdf(tmp_path / "scan.pdf", lines=["Declaration of Maria"])
    monkeypatch.setenv("PATH", str(tmp_path))

    result = parse_file(scan, max_pages=5, ocr=True)

    assert result.outcome == NEEDS_OCR


def test_flate_bomb_is_rejected_by_pypdfs_decompression_limit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=parsing.__name__)

    result = _parse_hostile(_flate_bomb(tmp_path / "bomb.pdf"))

    assert (result.outcome, result.reason) == (REJECTED, TOO_BIG)
    # The child returned its verdict: pypdf stopped inflating at its own 75 MB limit.
    assert _endings(caplog) == ["exit 0"]


def test_flate_bomb_under_a_tighter_memory_limit_kills_the_child_not_the_parent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=parsing.__name__)

    # 96 MB lets the interpreter and pypdf start but not hold pypdf's 75 MB of inflated output.
    result = _parse_hostile(_flate_bomb(tmp_path / "bomb.pdf"), memory_mb=96)

    assert (result.outcome, result.reason) == (REJECTED, TOO_BIG)
    assert _endings(caplog) == ["exit 70"]


def test_cyclic_page_tree_is_rejected_as_damaged(tmp_path: Path) -> None:
    cyclic = tmp_path / "cyclic.pdf"
    cyclic.write_bytes(_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]))

    result = _parse_hostile(cyclic)

    assert (result.outcome, result.reason) == (REJECTED, DAMAGED)


def test_pdf_cut_in_half_is_rejected_as_damaged(tmp_path: Path) -> None:
    whole = (SAMPLES / "004-pdflatex-4-pages_pdflatex-4-pages.pdf").read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(whole[: len(whole) // 2])

    result = _parse_hostile(truncated)

    assert (result.outcome, result.reason) == (REJECTED, DAMAGED)


def test_pdf_that_takes_too_long_is_killed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=parsing.__name__)
    # Fifty pages share one stream of 900,000 text operators: seconds of pure-Python parsing per page.
    operators = b"BT /F1 12 Tf 72 720 Td\n" + b"(a) Tj\n" * 900_000 + b"ET\n"
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(_pdf_with_pages([_stream(zlib.compress(operators))] * 50))

    result = _parse_hostile(slow, timeout_s=2)

    assert (result.outcome, result.reason) == (REJECTED, TOO_LONG)
    assert _endings(caplog) == ["timeout"]


def test_a_stuck_ocr_program_is_killed_with_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in for tesseract that leaves a grandchild holding its output open: only killing the
    # child's whole process group ends it.
    helper_pid = tmp_path / "helper.pid"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tesseract").write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {helper_pid}\nwait\n")
    (bin_dir / "tesseract").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    scan = _scanned_pdf(tmp_path / "scan.pdf", lines=["Declaration of Maria"])

    result = _parse_hostile(scan, timeout_s=2)

    assert (result.outcome, result.reason) == (REJECTED, TOO_LONG)
    assert _gone(int(helper_pid.read_text()))


def test_pdf_over_the_page_limit_is_rejected(tmp_path: Path) -> None:
    long = tmp_path / "long.pdf"
    long.write_bytes(_pdf_with_pages([_stream(zlib.compress(b""))] * 3))

    result = _parse_hostile(long, max_pages=2)

    assert (result.outcome, result.reason) == (REJECTED, "The PDF has 3 pages; the limit is 2.")


def test_zero_byte_file_is_rejected_as_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")

    assert _parse_hostile(empty) == ParseResult(outcome=REJECTED, pages=(), reason=EMPTY, content_type=parsing.UNKNOWN)


def test_html_named_pdf_is_rejected_as_not_a_pdf(tmp_path: Path) -> None:
    page = tmp_path / "statement.pdf"
    page.write_bytes(b"<!DOCTYPE html><html><body><p>%PDF? no.</p></body></html>")

    result = _parse_hostile(page)

    assert (result.outcome, result.reason) == (REJECTED, NOT_ACCEPTED)


def test_legacy_word_file_is_rejected_with_advice_to_resave(tmp_path: Path) -> None:
    doc = tmp_path / "statement.docx"  # the name lies; the bytes decide
    doc.write_bytes(_ole2(["Root Entry", "1Table", "WordDocument"]))

    result = _parse_hostile(doc)

    assert (result.outcome, result.content_type) == (REJECTED, parsing.DOC)
    assert result.reason == "Legacy Word (.doc) files are not accepted; save it as .docx or PDF."


@pytest.mark.parametrize(
    ("streams", "content_type", "says"),
    [
        (["Root Entry", "Workbook"], parsing.XLS, ".xls"),
        (["Root Entry", "PowerPoint Document"], parsing.PPT, ".ppt"),
        (["Root Entry", "EncryptionInfo", "EncryptedPackage"], parsing.ENCRYPTED_OFFICE, "password"),
        (["Root Entry", "Contents"], parsing.OLE, ".doc, .xls, .ppt"),
    ],
)
def test_other_ole2_files_are_rejected_with_specific_reasons(
    tmp_path: Path, streams: list[str], content_type: str, says: str
) -> None:
    path = tmp_path / "upload.pdf"
    path.write_bytes(_ole2(streams))

    result = _parse_hostile(path)

    assert (result.outcome, result.content_type) == (REJECTED, content_type)
    assert says in result.reason


@pytest.mark.parametrize(
    ("entries", "content_type", "says"),
    [
        ({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"}, parsing.XLSX, ".xlsx"),
        ({"[Content_Types].xml": "<Types/>", "ppt/presentation.xml": "<p/>"}, parsing.PPTX, ".pptx"),
        ({"mimetype": parsing.ODT, "content.xml": "<office/>"}, parsing.ODT, ".odt"),
        ({"mimetype": "application/vnd.oasis.opendocument.spreadsheet"}, parsing.ODF_PREFIX + "spreadsheet", ".ods"),
        ({"notes.txt": "hello"}, parsing.ZIP, "not a PDF or Word"),
    ],
)
def test_other_zip_files_are_rejected_with_specific_reasons(
    tmp_path: Path, entries: dict[str, str], content_type: str, says: str
) -> None:
    path = tmp_path / "upload.docx"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries.items():
            # ODF keeps its mimetype entry stored, not deflated, so that a sniffer can read it.
            archive.writestr(
                name, text, compress_type=zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            )

    result = _parse_hostile(path)

    assert (result.outcome, result.content_type) == (REJECTED, content_type)
    assert says in result.reason


@pytest.mark.parametrize(
    ("method", "content_type"),
    [
        # A deflated entry is read a few KiB at a time: its first bytes name the kind.
        (zipfile.ZIP_DEFLATED, parsing.ODT),
        # bzip2 would be inflated whole by zipfile before the first byte came back: such an entry is not read.
        (zipfile.ZIP_BZIP2, parsing.ZIP),
    ],
)
def test_a_mimetype_entry_that_inflates_far_past_its_declared_size_is_sniffed_in_little_memory(
    method: int, content_type: str
) -> None:
    named = parsing.ODT.encode()
    upload = io.BytesIO(_zip_bomb(named, megabytes=200, method=method))

    tracemalloc.start()
    try:
        sniffed = parsing.sniff_stream(upload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * 1024 * 1024, f"sniffing grew memory by {peak / 2**20:.0f} MiB"
    assert sniffed == content_type


def test_sniff_reads_bytes_not_names() -> None:
    assert sniff(b"junk\n%PDF-1.7\n") == PDF
    assert sniff(b"<html>") is None
    assert sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)) == parsing.OLE
    assert sniff(b"PK\x03\x04" + bytes(40)) == parsing.ZIP
    assert sniff(b"") is None


def test_word_document_becomes_pages_split_at_paragraphs(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    paragraphs = [f"Paragraph {n}: " + "she told me what happened that night. " * 12 for n in range(20)]
    for text in paragraphs:
        document.add_paragraph(text)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Date"
    table.cell(0, 1).text = "Event"
    table.cell(1, 0).text = "2021-03-04"
    table.cell(1, 1).text = "Police report filed"
    path = tmp_path / "statement.pdf"  # the name lies; the bytes decide
    document.save(str(path))

    assert sniff_file(path) == DOCX
    result = _parse_hostile(path)

    assert (result.outcome, result.content_type) == (INDEXED, DOCX)
    assert len(result.pages) >= 3
    assert [page.number for page in result.pages] == list(range(1, len(result.pages) + 1))
    assert all(len(page.text) <= 3000 and not page.ocr for page in result.pages)
    lines = [line for page in result.pages for line in page.text.split("\n")]
    assert lines == [*(text.strip() for text in paragraphs), "Date | Event", "2021-03-04 | Police report filed"]


def test_word_document_over_the_page_limit_is_rejected(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    for _ in range(10):
        document.add_paragraph("x" * 2500)
    path = tmp_path / "long.docx"
    document.save(str(path))

    result = _parse_hostile(path, max_pages=5)

    assert (result.outcome, result.reason) == (REJECTED, "The Word document is about 10 pages long; the limit is 5.")


def test_word_document_whose_text_inflates_past_the_memory_limit_is_rejected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import docx

    caplog.set_level(logging.INFO, logger=parsing.__name__)
    template = io.BytesIO()
    docx.Document().save(template)
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(template) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                bomb.writestr(info, source.read(info))
        # 400 MiB of one character deflates to under half a megabyte.
        with bomb.open("word/document.xml", "w") as part:
            part.write(b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">')
            part.write(b"<w:body><w:p><w:r><w:t>")
            block = b"A" * (1024 * 1024)
            for _ in range(400):
                part.write(block)
            part.write(b"</w:t></w:r></w:p></w:body></w:document>")

    result = _parse_hostile(path, memory_mb=256)

    assert (result.outcome, result.reason) == (REJECTED, TOO_BIG)
    assert _endings(caplog) == ["exit 70"]


def test_word_document_that_is_a_broken_zip_is_rejected_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<w:document><unclosed>")

    result = _parse_hostile(path)

    assert (result.outcome, result.reason) == (REJECTED, DAMAGED)


@pytest.mark.parametrize(
    ("exit_code", "reason"),
    [
        (70, TOO_BIG),
        (-signal.SIGXCPU, TOO_LONG),
        (-signal.SIGKILL, TOO_BIG),
        (-signal.SIGSEGV, DAMAGED),
        (-signal.SIGABRT, DAMAGED),
        (1, DAMAGED),
    ],
)
def test_a_child_that_dies_is_explained_by_how_it_died(exit_code: int, reason: str) -> None:
    assert parsing.reason_for_exit(exit_code) == reason


def test_module_imports_without_django() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    code = "import sys, casework.parsing; sys.exit('django' in sys.modules or 'pypdf' in sys.modules)"

    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2], check=False)

    assert done.returncode == 0


def _parse_hostile(path: Path, *, max_pages: int = 50, timeout_s: float = 10, memory_mb: int = 512) -> ParseResult:
    """Short limits keep the hostile cases quick; a real upload gets the defaults."""
    return parse_file(path, max_pages=max_pages, timeout_s=timeout_s, memory_mb=memory_mb)


def _gone(pid: int) -> bool:
    """Whether the process has exited (a zombie has: whoever adopted it just has not reaped it yet)."""
    for _ in range(50):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _endings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """How each child ended, from the parse log: an exit status, "timeout", or what the parser raised."""
    return [getattr(record, "ending", "") for record in caplog.records if record.name == parsing.__name__]


# ---- Building files ----


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF with a correct cross-reference table; object 1 must be the catalog."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _stream(compressed: bytes) -> bytes:
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(compressed), compressed)


def _pdf_with_pages(contents: list[bytes]) -> bytes:
    """One page per content stream; pages sharing an identical stream share one object."""
    streams = list(dict.fromkeys(contents))
    first_page = 3 + len(streams)
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(len(contents)))
    # A font, so that pypdf looks for text in the content at all.
    font = b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    pages = [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] %s /Contents %d 0 R >>"
        % (font, 3 + streams.index(content))
        for content in contents
    ]
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(contents)),
            *streams,
            *pages,
        ]
    )


def _flate_bomb(path: Path, gib: int = 2) -> Path:
    """A page whose content inflates to `gib` GiB of zeros, built in milliseconds from one 1 MiB block.

    After a full flush, deflate restarts without history, so every further 1 MiB of zeros compresses to
    the same bytes; only the trailing Adler-32 must be worked out, and for zeros it is (n mod 65521, 1).
    """
    compressor = zlib.compressobj(9)
    block = bytes(1024 * 1024)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    total = gib * 1024 * 1024 * 1024
    checksum = ((total % 65521) << 16) | 1
    tail = compressor.flush()[:-4] + checksum.to_bytes(4, "big")
    path.write_bytes(_pdf_with_pages([_stream(first + repeat * (gib * 1024 - 1) + tail)]))
    return path


def _zip_bomb(named: bytes, *, megabytes: int, method: int) -> bytes:
    """A zip of one `mimetype` entry: `named` and then `megabytes` MiB of zeros, compressed by `method`, while its
    directory declares only `named` (its size and CRC), as a forger would write it."""
    block = bytes(1024 * 1024)
    if method == zipfile.ZIP_DEFLATED:
        compressor: Any = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as zip stores it
        # After a full flush deflate restarts without history: every further block compresses to the same bytes.
        first = compressor.compress(named + block) + compressor.flush(zlib.Z_FULL_FLUSH)
        repeat = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
        data = first + repeat * (megabytes - 1) + compressor.flush()
    else:
        compressor = bz2.BZ2Compressor(9)
        data = compressor.compress(named) + b"".join(compressor.compress(block) for _ in range(megabytes))
        data += compressor.flush()
    name = b"mimetype"
    sizes = (zlib.crc32(named), len(data), len(named))
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, *sizes, len(name), 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, *sizes, len(name), 0, 0, 0, 0, 0, 0)
    directory = central + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(local) + len(data), 0)
    return local + data + directory + end


def _ole2(streams: list[str]) -> bytes:
    """An OLE2 compound file header and one directory sector naming `streams`, which is what sniffing reads."""
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header[24:28] = (0x3E, 0x00, 0x03, 0x00)  # minor and major version 3
    header[28:30] = b"\xfe\xff"  # little-endian
    header[30:32] = (9).to_bytes(2, "little")  # 512-byte sectors
    header[48:52] = (0).to_bytes(4, "little")  # the directory starts at sector 0
    directory = bytearray()
    for name in streams:
        entry = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        entry[: len(encoded)] = encoded
        entry[64:66] = len(encoded).to_bytes(2, "little")
        entry[66] = 5 if name == "Root Entry" else 2
        directory += entry
    directory += bytes(-len(directory) % 512)
    return bytes(header + directory)


def _scanned_pdf(path: Path, *, lines: list[str]) -> Path:
    """A page that is only a picture of text, as a scanner makes it."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1200, 120 * len(lines) + 80), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=56)
    for index, line in enumerate(lines):
        draw.text((40, 40 + 100 * index), line, fill=0, font=font)
    image.save(path, format="PDF", resolution=150)
    return path
