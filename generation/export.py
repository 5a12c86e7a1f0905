"""The declaration as a Word document: title, sections, the § 1746 attestation, signature and date lines,
and an interpreter's certificate when the client's language is not English."""

from __future__ import annotations

import io

from docx import Document as WordDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

from casework.models import PartyRole
from generation import declarations
from generation.models import DraftVersion

INTERPRETER_CERTIFICATE = (
    "I, ______________________, certify that I am competent to translate from {language} into English and "
    "from English into {language}, and that I read the foregoing declaration to {client} in {language}, and "
    "that {client} stated that they understood it and that it is true and correct."
)


def declaration_docx(version: DraftVersion) -> bytes:
    run = version.run
    case = run.case
    client = case.parties.filter(role=PartyRole.CLIENT).first()
    client_name = client.name if client else "the declarant"
    language = (client.language if client else "").strip()
    template = declarations.TEMPLATES[run.template]

    doc = WordDocument()
    doc.styles["Normal"].font.name = "Times New Roman"
    doc.styles["Normal"].font.size = Pt(12)
    title = doc.add_heading(template.title, level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(f"Declaration of {client_name}").alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(f"I, {client_name}, declare as follows:")
    for section in version.sections.order_by("order"):
        doc.add_heading(section.heading, level=1)
        if section.text:
            for paragraph in section.text.split("\n\n"):
                if paragraph.strip():
                    doc.add_paragraph(paragraph.strip())
        # Notes to the attorney are working notes, not part of what the client signs.
    doc.add_heading("Attestation", level=1)
    doc.add_paragraph(declarations.ATTESTATION)
    doc.add_paragraph("\n______________________________\nSignature")
    doc.add_paragraph(f"{client_name}")
    doc.add_paragraph("\n______________________________\nDate")
    if language and language.lower() not in ("english", "en"):
        doc.add_heading("Certificate of interpreter", level=1)
        doc.add_paragraph(INTERPRETER_CERTIFICATE.format(language=language, client=client_name))
        doc.add_paragraph("\n______________________________\nInterpreter's signature and date")
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
