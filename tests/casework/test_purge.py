"""Purging a case leaves none of its text in any table or file, and keeps its audit trail whole; removing a
document marks the runs that read it and blanks their calls."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models
from django.test import RequestFactory

from casework import audit
from casework.embeddings import DIMENSIONS, to_bytes
from casework.encryption import FileKeyError, decrypt, is_encrypted
from casework.indexing import do_remove_document
from casework.models import AuditEvent, Case, Chunk, Document, DocumentStatus, Page, Party, PartyRole
from casework.pdfgen import text_pdf
from casework.uploads import do_store_upload, storage_path
from casework.vectors import index_path, rebuild_index
from generation.models import (
    Comment,
    DeclarationRun,
    DraftSection,
    DraftVersion,
    RunSection,
    RunStatus,
    SectionStep,
)
from llmops.models import CallStatus, Host, LLMCall, LLMModel
from tests.conftest import make_case

pytestmark = pytest.mark.django_db

CANARY = "Quokkaville-7731"


def _model() -> LLMModel:
    host = Host.objects.create(name="local", kind="llamacpp")
    return LLMModel.objects.create(
        name="small", host=host, remote_name="gemma-3-270m", context_length=2048, max_output_tokens=64,
        first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
    )  # fmt: skip


def _document(case: Case, text: str, name: str = "statement.pdf") -> Document:
    """A stored file with its page and chunk, and the case's index built over it."""
    document = do_store_upload(case=case, name=name, stream=io.BytesIO(text_pdf([text])), uploaded_by=None).document
    Document.objects.filter(pk=document.pk).update(status=DocumentStatus.INDEXED)
    Page.objects.create(document=document, number=1, text=text)
    vector = np.ones(DIMENSIONS, dtype=np.float32) / np.sqrt(DIMENSIONS)
    Chunk.objects.create(
        document=document, case=case, ordinal=0, page_start=1, page_end=1, text=text, embedding=to_bytes(vector)
    )
    rebuild_index(case.pk)
    return document


def _run(
    case: Case, document: Document, model: LLMModel, text: str, status: str = RunStatus.COMPLETED
) -> tuple[DeclarationRun, LLMCall]:
    """A run drafted from the document, as the pipeline leaves one: its section, step, call, version and a
    comment each hold the document's text."""
    run = DeclarationRun.objects.create(case=case, template="vawa", template_version=1, status=status)
    cited = {"document_id": document.pk, "document_name": document.original_name, "page": 1}
    evidence = [{"n": 1, "chunk_id": document.chunks.get().pk, **cited, "score": 0.9, "text": text}]
    facts = [{"id": "F1", "n": 1, "need": "where", "source": "evidence", "text": text, **cited}]
    said = f"I said: {text}"
    sentences = [{"text": said, "facts": ["F1"], "pages": [cited], "flags": []}]
    section = RunSection.objects.create(
        run=run, key="introduction", heading="Introduction", order=0, evidence=evidence, facts=facts,
        sentences=sentences, text=said, note=f"Ask about {text}",
    )  # fmt: skip
    step = SectionStep.objects.create(section=section, stage="extract", result={"facts": [{"text": text}]})
    call = LLMCall.objects.create(
        model=model, host=model.host, stage="extract", label=f"run {run.pk} introduction extract",
        status=CallStatus.COMPLETED if status == RunStatus.COMPLETED else CallStatus.RUNNING,
        messages=[{"role": "system", "content": "Case file excerpts:\n{evidence}", "evidence": [f'[1] "{text}"']}],
        output=json.dumps({"facts": [{"n": 1, "text": text}]}), max_tokens=64, error=f"host said: {text}",
        callback={"task": "generation.advance_run", "kwargs": {"run_id": run.pk, "step_id": step.pk}},
        redactor={"path": "casework.pii:redactor_for_case", "kwargs": {"case_id": case.pk}},
    )  # fmt: skip
    SectionStep.objects.filter(pk=step.pk).update(call=call)
    version = DraftVersion.objects.create(run=run, number=1, note=f"about {text}")
    DraftSection.objects.create(
        version=version, key="introduction", heading="Introduction", order=0, text=said,
        sentences=sentences, facts=facts,
    )  # fmt: skip
    Comment.objects.create(run=run, version_number=1, author=case.assignees.all()[0], text=f"Ask about {text}")
    return run, call


def _rows_holding(text: str) -> list[str]:
    """Every row of every table whose text columns (char, text, JSON) hold `text`."""
    found = []
    for model in apps.get_models():
        columns = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        if model._meta.proxy or not columns:
            continue
        for pk, *values in model._base_manager.values_list("pk", *columns):
            if text in json.dumps(values, default=str):
                found.append(f"{model._meta.db_table} {pk}")
    return found


def _files_holding(text: str, storage: Path) -> list[str]:
    """Every file under the storage folder whose bytes, or whose decrypted bytes, hold `text`."""
    found = []
    for path in (p for p in storage.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            plain = decrypt(data, label=path.name) if is_encrypted(data) else data
        except FileKeyError:
            plain = b""
        if text.encode() in data or text.encode() in plain:
            found.append(str(path.relative_to(storage)))
    return found


def _seeded(people: dict[str, Any]) -> dict[str, Any]:
    case = people["case"]
    Case.objects.filter(pk=case.pk).update(title=f"{CANARY} - VAWA")
    Party.objects.create(case=case, role=PartyRole.OTHER, name=f"Ana {CANARY}")
    model = _model()
    document = _document(case, f"In 2019 she fled to {CANARY}, where her cousin lives.", name=f"{CANARY}_i-360.pdf")
    _, call = _run(case, document, model, document.pages.get().text)
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1")
    request.user = people["attorney"]
    for action, obj in (("view", case), ("download", document), ("view", call)):
        audit.record(request=request, action=action, obj=obj, case=case)
    # Another case of the firm, which the purge must leave as it is.
    other = make_case(people["firm"], [people["attorney"]], title="Roe - T visa")
    other_document = _document(other, "He worked at the cannery.")
    _, other_call = _run(other, other_document, model, "He worked at the cannery.")
    return {"case": case, "document": document, "other": other, "other_call": other_call}


def test_a_purged_case_leaves_its_text_in_no_table_and_no_file(firm_people: dict[str, Any], storage_dir: Path) -> None:
    seeded = _seeded(firm_people)
    case, document = seeded["case"], seeded["document"]
    # The search finds the canary wherever the case's text is kept (else it would prove nothing).
    holding = {row.split()[0] for row in _rows_holding(CANARY)}
    assert holding >= {
        "casework_case", "casework_party", "casework_document", "casework_page", "casework_chunk",
        "generation_runsection", "generation_sectionstep", "generation_draftversion", "generation_draftsection",
        "generation_comment", "llmops_llmcall",
    }  # fmt: skip
    assert _files_holding(CANARY, storage_dir) == [document.stored_name]
    trail = list(AuditEvent.objects.filter(case=case).order_by("id").values_list("id", "action"))

    out = io.StringIO()
    call_command("purge_case", "--case", str(case.pk), "--no-input", stdout=out)

    assert json.loads(out.getvalue()) == {"documents": 1, "runs": 1, "calls": 1}
    assert _rows_holding(CANARY) == []
    assert _files_holding(CANARY, storage_dir) == []
    assert not storage_path(document.stored_name).exists() and not index_path(case.pk).exists()
    # The trail stays, with the purge at its end, and still holds.
    after = list(AuditEvent.objects.filter(case=case).order_by("id").values_list("id", "action"))
    assert after[:-1] == trail and after[-1][1] == "purge"
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert f"{len(trail) + 1} rows" in out.getvalue()
    assert Case.objects.get(pk=case.pk).title == f"Purged case {case.pk}"
    # The other case keeps its document, its index and its call's text.
    assert seeded["other"].documents.count() == 1 and index_path(seeded["other"].pk).exists()
    assert LLMCall.objects.get(pk=seeded["other_call"].pk).output != ""


def test_a_case_still_at_work_is_not_purged(firm_people: dict[str, Any]) -> None:
    case = firm_people["case"]
    document = _document(case, "A police report.")
    _run(case, document, _model(), "A police report.", status=RunStatus.RUNNING)
    with pytest.raises(CommandError, match=f"case {case.pk} has runs being drafted and model calls not finished"):
        call_command("purge_case", "--case", str(case.pk), "--no-input")
    assert case.documents.count() == 1 and case.runs.count() == 1


def test_removing_a_document_marks_the_runs_that_read_it_and_blanks_their_finished_calls(
    firm_people: dict[str, Any],
) -> None:
    case, model = firm_people["case"], _model()
    removed = _document(case, f"She fled to {CANARY}.")
    kept = _document(case, "A police report.")
    finished_run, finished = _run(case, removed, model, f"She fled to {CANARY}.")
    running_run, running = _run(case, removed, model, f"She fled to {CANARY}.", status=RunStatus.RUNNING)
    other_run, other = _run(case, kept, model, "A police report.")

    removed_id = removed.pk
    do_remove_document(removed)

    notice = f"A document this run read (document {removed_id}) has since been removed"
    for run in (finished_run, running_run):
        run.refresh_from_db()
        assert notice in run.error
    other_run.refresh_from_db()
    assert notice not in other_run.error
    blanked = LLMCall.objects.get(pk=finished.pk)
    assert (blanked.messages, blanked.output, blanked.error) == ([], "", "")
    # A running run's calls are its working state (a retry asks again with the same messages): kept.
    assert LLMCall.objects.get(pk=running.pk).messages == running.messages
    assert LLMCall.objects.get(pk=other.pk).output == other.output
