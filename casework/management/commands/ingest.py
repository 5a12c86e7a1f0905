from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from casework.case_json import CaseJsonError, parse_case_json
from casework.ingest import ingest_document
from casework.intake import do_create_case
from casework.models import Case, Document, Firm
from casework.uploads import UploadRejected, do_store_upload


class Command(BaseCommand):
    help = (
        "Create the case described by CASE.json (or reuse the firm's case of that title), ingest the files "
        'through the same code as uploads, and print one JSON line per file, then {"case": ID}.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--case-json", type=Path, required=True)
        parser.add_argument("--show-pii", action="store_true", help="list the PII found in each file")
        parser.add_argument("files", nargs="+", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = json.loads(options["case_json"].read_text())
            case_input, firm_name = parse_case_json(data)
        except OSError as exc:
            raise CommandError(f"cannot read {options['case_json']}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise CommandError(f"{options['case_json']} is not valid JSON: {exc}") from exc
        except CaseJsonError as exc:
            raise CommandError(f"{options['case_json']}: {exc}") from exc
        firm = self._firm(firm_name)
        case = Case.objects.filter(firm=firm, title=case_input.title).first()
        if case is None:
            try:
                case = do_create_case(firm=firm, data=case_input, created_by=None, assignees=[])
            except IntegrityError as exc:  # created by someone else meanwhile
                raise CommandError(f"could not create the case: {exc}") from exc
        for path in options["files"]:
            self.stdout.write(json.dumps(self._ingest(case, path, show_pii=options["show_pii"])))
        self.stdout.write(json.dumps({"case": case.pk}))

    @staticmethod
    def _firm(name: str) -> Firm:
        if name:
            return Firm.objects.get_or_create(name=name)[0]
        firms = list(Firm.objects.all()[:2])
        if len(firms) == 1:
            return firms[0]
        if not firms:
            return Firm.objects.create(name="Affiant")
        raise CommandError('several firms exist: name one with "firm" in CASE.json')

    @staticmethod
    def _ingest(case: Case, path: Path, *, show_pii: bool) -> dict[str, Any]:
        line: dict[str, Any] = {"file": str(path)}
        try:
            with path.open("rb") as handle:
                stored = do_store_upload(case=case, name=path.name, stream=handle, uploaded_by=None)
        except OSError as exc:
            return {**line, "status": "rejected", "pages": 0, "chunks": 0, "ocr_pages": 0, "error": exc.strerror}
        except UploadRejected as exc:
            return {**line, "status": "rejected", "pages": 0, "chunks": 0, "ocr_pages": 0, "error": str(exc)}
        if not stored.duplicate:
            ingest_document(stored.document.pk)
        document = Document.objects.get(pk=stored.document.pk)
        line.update(document_report(document))
        if stored.duplicate:
            line["duplicate_of"] = document.original_name
        if show_pii:
            line["pii"] = [{"type": f.kind, "text": f.text} for f in document_pii(document)]
        return line


def document_report(document: Document) -> dict[str, Any]:
    return {
        "status": document.status,
        "pages": document.page_count,
        "chunks": document.chunks.count(),
        "ocr_pages": document.pages.filter(ocr=True).count(),
        "error": document.error or None,
    }


def document_pii(document: Document) -> list[Any]:
    from casework.pii_detect import KnownParties, detect_pii

    known = KnownParties.for_case(document.case)
    findings = []
    for page in document.pages.order_by("number"):
        findings.extend(detect_pii(page.text, known=known))
    return findings
