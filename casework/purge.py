"""Taking a case's text out of everything Affiant keeps, and what removing one document can take out.

A case's text lives in its stored files, their pages and chunks and the FAISS index built from them, its title
and parties; in the runs drafted from it (sections' evidence, facts and sentences, steps' results, every version
of the draft, comments); and in the LLM calls that carried it to a model and back (messages, output, and a
host's error, which may quote either). Purging a case removes all of it. The case row stays, renamed, because
the audit trail names it and is kept: its rows hold ids and never text. This is the one casework module that
reaches into generation and llmops, since a case's text is in their tables too.

Removing one document cannot be as thorough. A run's sentences, a version's text (the attorney's edits
included) and a call's output mix passages of several documents, and nothing records which words came from
which; taking out only the entries that cite the document would leave sentences citing facts that no longer
exist, and would change approved versions, which are frozen. So removing a document marks each run that read it,
and blanks the calls of those runs that have finished (their work is taken in; nothing reads them again);
purging the case is what removes the rest.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from casework import audit
from casework.models import Case, Document, DocumentStatus
from casework.uploads import storage_path
from casework.vectors import index_path
from generation.models import DeclarationRun, DraftSection, RunSection, RunStatus, SectionStep
from llmops.models import CallStatus, LLMCall, LLMCallQuerySet

logger = logging.getLogger(__name__)

# Shown with the run's progress, where the attorney reads what went wrong with a run.
REMOVED_NOTICE = (
    "A document this run read (document {document_id}) has since been removed: the draft may still say what it said."
)


class PurgeRefused(Exception):
    """The case is still being worked on; the message says by what."""


@dataclass(frozen=True)
class PurgeReport:
    documents: int
    runs: int
    calls: int


def check_purgeable(case: Case) -> None:
    """Refuse while a document is being read or a run or call is unfinished: a worker would write its text
    again after the purge, or send a call whose messages are gone."""
    busy = []
    if case.documents.filter(status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING]).exists():
        busy.append("documents being read")
    runs = DeclarationRun.objects.filter(case=case)
    if runs.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists():
        busy.append("runs being drafted")
    if calls_of(case=case, runs=runs).unfinished().exists():
        busy.append("model calls not finished")
    if busy:
        raise PurgeRefused(f"case {case.pk} has {' and '.join(busy)}: purge it when they end")


def do_purge_case(case: Case) -> PurgeReport:
    """Remove the case's text everywhere and record the purge in its trail. Precondition: `check_purgeable`.

    The files go after the rows are committed: a purge that fails midway leaves nothing unreadable, and a second
    run removes what the first left (the case's folder, its index)."""
    runs = DeclarationRun.objects.filter(case=case)
    stored = list(case.documents.values_list("stored_name", flat=True))
    with transaction.atomic():
        calls = forget_text(calls_of(case=case, runs=runs))
        run_count = runs.count()
        runs.delete()
        case.documents.all().delete()  # with their pages, chunks and PII findings
        case.parties.all().delete()
        Case.objects.filter(pk=case.pk).update(title=f"Purged case {case.pk}")
        audit.record_command(action="purge", obj=case, case=case)
    for name in stored:
        storage_path(name).unlink(missing_ok=True)
    folder = Path(settings.AFFIANT_STORAGE_DIR) / str(case.pk)
    if folder.exists():
        shutil.rmtree(folder)
    index_path(case.pk).unlink(missing_ok=True)
    logger.info("case purged", extra={"case_id": case.pk, "documents": len(stored), "runs": run_count})
    return PurgeReport(documents=len(stored), runs=run_count, calls=calls)


def do_forget_document(document: Document) -> None:
    """Before a document is removed: mark the runs that read it, and blank the calls of those that have
    finished. What their drafts say stays until the case is purged (see the module's docstring)."""
    run_ids = runs_citing(document)
    notice = REMOVED_NOTICE.format(document_id=document.pk)
    with transaction.atomic():
        for run in DeclarationRun.objects.select_for_update().filter(pk__in=run_ids):
            run.error = f"{run.error}\n{notice}".strip()
            run.save(update_fields=["error"])
        finished = DeclarationRun.objects.filter(pk__in=run_ids, status__in=[RunStatus.COMPLETED, RunStatus.FAILED])
        forget_text(calls_of(case=None, runs=finished).filter(status__in=[CallStatus.COMPLETED, CallStatus.FAILED]))


def runs_citing(document: Document) -> set[int]:
    """The runs of the document's case whose sections or versions hold a passage or fact of it."""
    sections = RunSection.objects.filter(run__case_id=document.case_id).values_list("run_id", "evidence", "facts")
    drafts = DraftSection.objects.filter(version__run__case_id=document.case_id).values_list("version__run_id", "facts")
    return {row[0] for row in [*sections, *drafts] if any(_cites(entries, document.pk) for entries in row[1:])}


def _cites(entries: Any, document_id: int) -> bool:
    return isinstance(entries, list) and any(
        isinstance(entry, dict) and entry.get("document_id") == document_id for entry in entries
    )


def calls_of(*, case: Case | None, runs: QuerySet[DeclarationRun]) -> LLMCallQuerySet:
    """The calls made for `runs`, and with a case every call made for it.

    The pipeline names the run in each call's callback and the case in its redactor, and a failover or retry
    copies both; a step points at its latest call.
    """
    run_ids = list(runs.values_list("pk", flat=True))
    steps = SectionStep.objects.filter(section__run_id__in=run_ids, call__isnull=False).values("call_id")
    found = Q(callback__kwargs__run_id__in=run_ids) | Q(pk__in=steps)
    if case is not None:
        found |= Q(redactor__kwargs__case_id=case.pk)
    return LLMCall.objects.filter(found)


def forget_text(calls: QuerySet[LLMCall]) -> int:
    """Blank what a call carried (its messages, output and a host's error, which may quote them), keeping the
    row: ops read its model, timings and outcome, which hold no case text."""
    return calls.update(messages=[], output="", error="")
