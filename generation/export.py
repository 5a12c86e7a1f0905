"""The declaration as a Word document or a PDF: title, sections, the § 1746 attestation, signature and date
lines, and an interpreter's certificate when the client's language is not English.

A version the attorney has not approved carries DRAFT_MARK at the head of every page in both formats, so
an unreviewed draft can never pass for a declaration ready to sign.

Both writers render the same list of blocks from `declaration_blocks`, so the two formats cannot drift.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from docx import Document as WordDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from generation import declarations
from generation.models import DraftVersion

logger = logging.getLogger(__name__)
# fpdf2's and fontTools' own loggers are quietened in settings.LOGGING: fpdf2 warns with the very
# characters a font lacks, which come from the client's statement.

INTERPRETER_CERTIFICATE = (
    "I, ______________________, certify that I am competent to translate from {language} into English and "
    "from English into {language}, and that I read the foregoing declaration to {client} in {language}, and "
    "that {client} stated that they understood it and that it is true and correct."
)
SIGNATURE_RULE = "______________________________"
DRAFT_MARK = "DRAFT — NOT REVIEWED BY COUNSEL"


def draft_mark(version: DraftVersion) -> str:
    """The mark every page of the version's export carries: DRAFT_MARK until the attorney approves it."""
    return "" if version.approved_at is not None else DRAFT_MARK


class BlockKind(StrEnum):
    TITLE = "title"
    SUBTITLE = "subtitle"
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    SIGNATURE = "signature"  # a rule to sign on, with its label (the text) beneath


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str


def declaration_blocks(version: DraftVersion) -> list[Block]:
    """What the client signs, in order. Notes to the attorney are working notes and stay out."""
    run = version.run
    client = run.case.client
    client_name = client.name if client else "the declarant"
    language = (client.language if client else "").strip()
    template = declarations.TEMPLATES[run.template]

    blocks = [
        Block(BlockKind.TITLE, template.title),
        Block(BlockKind.SUBTITLE, f"Declaration of {client_name}"),
        Block(BlockKind.PARAGRAPH, f"I, {client_name}, declare as follows:"),
    ]
    for section in version.sections.order_by("order"):
        blocks.append(Block(BlockKind.HEADING, section.heading))
        blocks.extend(Block(BlockKind.PARAGRAPH, p.strip()) for p in section.text.split("\n\n") if p.strip())
    blocks += [
        Block(BlockKind.HEADING, "Attestation"),
        Block(BlockKind.PARAGRAPH, declarations.ATTESTATION),
        Block(BlockKind.SIGNATURE, "Signature"),
        Block(BlockKind.PARAGRAPH, client_name),
        Block(BlockKind.SIGNATURE, "Date"),
    ]
    if language and language.lower() not in ("english", "en"):
        blocks += [
            Block(BlockKind.HEADING, "Certificate of interpreter"),
            Block(BlockKind.PARAGRAPH, INTERPRETER_CERTIFICATE.format(language=language, client=client_name)),
            Block(BlockKind.SIGNATURE, "Interpreter's signature and date"),
        ]
    return blocks


# --- Word ---------------------------------------------------------------------------------------


def declaration_docx(version: DraftVersion) -> bytes:
    doc = WordDocument()
    doc.styles["Normal"].font.name = "Times New Roman"
    doc.styles["Normal"].font.size = Pt(12)
    for block in declaration_blocks(version):
        if block.kind == BlockKind.TITLE:
            doc.add_heading(block.text, level=0).alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif block.kind == BlockKind.SUBTITLE:
            doc.add_paragraph(block.text).alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif block.kind == BlockKind.HEADING:
            doc.add_heading(block.text, level=1)
        elif block.kind == BlockKind.SIGNATURE:
            doc.add_paragraph(f"\n{SIGNATURE_RULE}\n{block.text}")
        else:
            doc.add_paragraph(block.text)
    mark = draft_mark(version)
    if mark:
        for section in doc.sections:  # a header belongs to a section; each has it, so every page does
            header = section.header
            header.is_linked_to_previous = False
            paragraph = header.paragraphs[0] if header.paragraphs else header.add_paragraph()
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            paragraph.add_run(mark).bold = True
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


# --- PDF ----------------------------------------------------------------------------------------

MARGIN = 72  # points: one inch
FONT_SIZE = 12
LINE_HEIGHT = 15  # points: single spacing for 12pt type, as Word sets it
PARAGRAPH_GAP = 8
SERIF = "DeclarationSerif"
SYSTEM_FONTS = Path("/usr/share/fonts/truetype")


@dataclass(frozen=True)
class FontFiles:
    regular: Path
    bold: Path


def _matplotlib_fonts() -> Path | None:
    """matplotlib's bundled TTF folder, found without importing matplotlib (slow, and not needed)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


def _font_candidates() -> list[tuple[Path, str]]:
    """(regular file, bold file's name), best first.

    Liberation Serif has Times New Roman's metrics, so lines break much as in Word; DejaVu Serif and FreeSerif
    cover more scripts (Greek, Cyrillic, Armenian, Georgian), DejaVu Sans also Arabic and Hebrew. matplotlib
    (which bert-score installs) ships DejaVu, so a machine without system fonts still embeds one.
    """
    serifs = [
        (SYSTEM_FONTS / "liberation" / "LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf"),
        (SYSTEM_FONTS / "dejavu" / "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    ]
    others = [
        (SYSTEM_FONTS / "freefont" / "FreeSerif.ttf", "FreeSerifBold.ttf"),
        (SYSTEM_FONTS / "dejavu" / "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ]
    bundled = _matplotlib_fonts()
    if bundled is not None:
        serifs.append((bundled / "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"))
        others.append((bundled / "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))
    return serifs + others


@functools.cache
def pdf_fonts() -> tuple[FontFiles, ...]:
    """The serif to set the declaration in, then fonts for the glyphs it lacks; empty when no TTF is found."""
    found: dict[str, FontFiles] = {}
    for regular, bold_name in _font_candidates():
        bold = regular.with_name(bold_name)
        if regular.is_file() and bold.is_file():
            found.setdefault(regular.name, FontFiles(regular, bold))  # the same font in two places counts once
    return tuple(found.values())


class DeclarationPDF(FPDF):
    """Letter paper, 1-inch margins, a serif at 12pt, "Page N of M" at the foot of every page, and the
    draft mark (if any) at the head of every page."""

    def __init__(self, fonts: tuple[FontFiles, ...], mark: str = "") -> None:
        super().__init__(orientation="portrait", unit="pt", format="letter")
        self.mark = mark
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN)
        self.embedded = bool(fonts)
        if fonts:
            self.serif = SERIF
            self.add_font(SERIF, "", str(fonts[0].regular))
            self.add_font(SERIF, "B", str(fonts[0].bold))
            fallbacks = [f"{SERIF}Fallback{n}" for n in range(1, len(fonts))]
            for name, files in zip(fallbacks, fonts[1:], strict=True):
                # Regular only: parsing a font costs time on every export, and a bold heading may borrow a
                # regular glyph (exact_match=False) where the serif lacks one.
                self.add_font(name, "", str(files.regular))
            if fallbacks:
                self.set_fallback_fonts(fallbacks, exact_match=False)
        else:
            # The PDF core Times has no glyphs beyond Windows-1252, which still holds accented Latin letters,
            # curly quotes and dashes; any other character prints as "?" rather than failing the export.
            logger.warning("no TrueType font found; the PDF export falls back to the core Times font")
            self.serif = "Times"
            self.core_fonts_encoding = "windows-1252"

    def header(self) -> None:
        if not self.mark:
            return
        y = self.get_y()
        self.set_y(MARGIN / 2 - FONT_SIZE / 2)  # in the top margin, clear of the text below it
        self.set_font(self.serif, "B", 11)
        self.set_text_color(160, 0, 0)
        self.cell(0, FONT_SIZE, self._encodable(self.mark), align=Align.C)
        self.set_text_color(0, 0, 0)
        self.set_y(y)

    def _encodable(self, text: str) -> str:
        return text if self.embedded else text.encode("cp1252", errors="replace").decode("cp1252")

    def footer(self) -> None:
        self.set_y(-(MARGIN / 2 + FONT_SIZE))
        self.set_font(self.serif, "", 10)
        self.cell(0, FONT_SIZE, f"Page {self.page_no()} of {{nb}}", align=Align.C)

    def write_block(self, block: Block) -> None:
        text = self._encodable(block.text)
        if block.kind == BlockKind.TITLE:
            self.set_font(self.serif, "B", 14)
            self._lines(text, height=18, align=Align.C)
            self.ln(PARAGRAPH_GAP / 2)
        elif block.kind == BlockKind.SUBTITLE:
            self.set_font(self.serif, "", FONT_SIZE)
            self._lines(text, align=Align.C)
            self.ln(PARAGRAPH_GAP * 2)
        elif block.kind == BlockKind.HEADING:
            self._keep_together(PARAGRAPH_GAP + LINE_HEIGHT * 4)  # never a heading alone at a page's foot
            self.ln(PARAGRAPH_GAP)
            self.set_font(self.serif, "B", FONT_SIZE)
            self._lines(text, align=Align.L)
            self.ln(PARAGRAPH_GAP / 2)
        elif block.kind == BlockKind.SIGNATURE:
            self._keep_together(LINE_HEIGHT * 4)
            self.set_font(self.serif, "", FONT_SIZE)
            self.ln(LINE_HEIGHT * 2)
            self._lines(SIGNATURE_RULE, align=Align.L)
            self._lines(text, align=Align.L)
            self.ln(PARAGRAPH_GAP)
        else:
            self.set_font(self.serif, "", FONT_SIZE)
            self._lines(text, align=Align.J)
            self.ln(PARAGRAPH_GAP)

    def _lines(self, text: str, *, align: Align, height: float = LINE_HEIGHT) -> None:
        self.multi_cell(self.epw, height, text, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _keep_together(self, height: float) -> None:
        if self.will_page_break(height):
            self.add_page()


def declaration_pdf(version: DraftVersion) -> bytes:
    blocks = declaration_blocks(version)
    pdf = DeclarationPDF(pdf_fonts(), mark=draft_mark(version))
    pdf.set_title(blocks[0].text)
    pdf.set_creator("Affiant")
    pdf.add_page()
    for block in blocks:
        pdf.write_block(block)
    return bytes(pdf.output())
