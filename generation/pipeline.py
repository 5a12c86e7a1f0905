"""The declaration run's state machine. This module alone owns the order of stages and transitions.

A run never waits on a task: it asks llmops for one call per section with a callback, and
`advance_run` moves it on each time a call ends. Every step is idempotent under redelivery.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casework.models import Case, DocumentStatus, PartyRole
from casework.search import search_case
from generation import declarations
from generation.models import (
    DeclarationRun,
    DraftSection,
    DraftVersion,
    RunSection,
    RunStatus,
    SectionStatus,
)
from generation.stages import draft
from llmops.calls import Callback, NoModelAvailable, RedactorRef, messages_of, request_completion
from llmops.models import CallStatus, LLMCall, Route
from llmops.providers.base import Message

logger = logging.getLogger(__name__)

ADVANCE_TASK = "generation.advance_run"


class VersionFrozen(Exception):
    """The draft cannot change: it is approved (or does not exist yet)."""


class RunNotStartable(Exception):
    """The case cannot be drafted yet; the message says why, for the paralegal."""


def check_can_start(case: Case) -> None:
    if not case.documents.filter(status__in=[DocumentStatus.INDEXED, DocumentStatus.NEEDS_OCR]).exists():
        raise RunNotStartable("Upload at least one readable document before drafting.")
    if not Route.objects.filter(name="draft").exists():
        raise RunNotStartable("No model route named 'draft' is configured; ask an ops admin.")


def sections_to_draft(template: declarations.DeclarationTemplate) -> list[declarations.SectionSpec]:
    wanted = settings.AFFIANT_DRAFT_SECTIONS
    return [s for s in template.sections if not wanted or s.key in wanted]


@transaction.atomic
def do_start_run(*, case: Case, created_by: User | None, template_key: str | None = None) -> DeclarationRun:
    """Create a run with its sections and queue its first step after commit."""
    template = (
        declarations.TEMPLATES[template_key] if template_key else declarations.template_for_case_type(case.case_type)
    )
    run = DeclarationRun.objects.create(
        case=case, template=template.key, template_version=declarations.VERSION, created_by=created_by
    )
    RunSection.objects.bulk_create(
        RunSection(run=run, key=spec.key, heading=spec.heading, order=i)
        for i, spec in enumerate(sections_to_draft(template))
    )
    run_id = run.pk
    transaction.on_commit(lambda: _send_advance(run_id))
    return run


def _send_advance(run_id: int) -> None:
    from generation.tasks import advance_run_task

    advance_run_task.delay(run_id=run_id)


def advance_run(*, run_id: int, section_id: int | None = None, call_id: int | None = None) -> None:
    """Take in a finished call (if any), ask for what is still needed, and finish the run when all is in."""
    with transaction.atomic():
        run = DeclarationRun.objects.select_for_update().select_related("case").filter(pk=run_id).first()
        if run is None or run.is_finished:
            return  # the run vanished or already ended: a late callback has nothing to do
        if section_id is not None and call_id is not None:
            _take_call_result(run, section_id=section_id, call_id=call_id)
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
            _request_drafts(run)
        sections = list(run.sections.all())
        if all(s.is_finished for s in sections):
            _finish(run, sections)


# A small model sometimes answers with nothing at all; one more sample usually gives text.
_MAX_DRAFT_ATTEMPTS = 2


def _take_call_result(run: DeclarationRun, *, section_id: int, call_id: int) -> None:
    section = run.sections.select_for_update().filter(pk=section_id).first()
    call = LLMCall.objects.filter(pk=call_id).first()
    if section is None or call is None or section.status != SectionStatus.DRAFTING:
        return  # a redelivered callback: the result is already in
    if section.call_id not in {c.pk for c in call.chain()}:
        return  # the result of an earlier request for this section, already handled
    section.call = call
    if call.status != CallStatus.COMPLETED:
        section.status = SectionStatus.FAILED
        section.note = f"Drafting failed: {call.error or call.error_kind}"[:500]
    elif text := draft.clean_output(call.output):
        section.text = text
        section.status = SectionStatus.DRAFTED
    elif section.attempts < _MAX_DRAFT_ATTEMPTS:
        _request_section(run, section, messages_of(call))
        return
    else:
        section.status = SectionStatus.MISSING
        section.note = "The model wrote nothing usable for this section. Draft it by hand or start a new run."
    section.save(update_fields=["call", "text", "status", "note"])


def _request_drafts(run: DeclarationRun) -> None:
    case = run.case
    client = case.parties.filter(role=PartyRole.CLIENT).first()
    client_name = client.name if client else "the declarant"
    template = declarations.TEMPLATES[run.template]
    for section in run.sections.filter(status=SectionStatus.PENDING):
        spec = template.section(section.key)
        passages = [
            p
            for p in search_case(case, f"{spec.heading} {spec.query}", k=settings.AFFIANT_EVIDENCE_PASSAGES)
            if p.score >= settings.AFFIANT_MIN_PASSAGE_SCORE
        ]
        if not passages:
            section.status = SectionStatus.MISSING
            section.note = "No passage in the case file speaks to this section. Ask the client, then add evidence."
            section.save(update_fields=["status", "note"])
            continue
        section.evidence = [
            {"document_id": p.document_id, "page": p.page_number, "score": round(p.score, 3)} for p in passages
        ]
        messages = draft.build_messages(client_name=client_name, section=spec, passages=passages)
        _request_section(run, section, messages)


def _request_section(run: DeclarationRun, section: RunSection, messages: list[Message]) -> None:
    section.attempts += 1
    try:
        call = request_completion(
            route="draft",
            messages=messages,
            stage="draft",
            label=f"run {run.pk} section {section.key}",
            max_tokens=settings.AFFIANT_DRAFT_MAX_TOKENS,
            temperature=0.3,
            stop=draft.STOP,
            callback=Callback(task=ADVANCE_TASK, kwargs={"run_id": run.pk, "section_id": section.pk}),
            allow_external=run.case.consent_external,
            redactor=RedactorRef(path="casework.pii:redactor_for_case", kwargs={"case_id": run.case_id}),
        )
    except NoModelAvailable as exc:
        section.status = SectionStatus.FAILED
        section.note = str(exc)
    else:
        section.call = call
        section.status = SectionStatus.DRAFTING
    section.save(update_fields=["status", "note", "evidence", "call", "attempts"])


def _finish(run: DeclarationRun, sections: list[RunSection]) -> None:
    version = DraftVersion.objects.create(run=run, number=1, note="Drafted by the pipeline")
    DraftSection.objects.bulk_create(
        DraftSection(version=version, key=s.key, heading=s.heading, order=s.order, text=s.text, note=s.note)
        for s in sections
    )
    failed = [s.key for s in sections if s.status == SectionStatus.FAILED]
    drafted = [s for s in sections if s.status == SectionStatus.DRAFTED]
    run.finished_at = timezone.now()
    if failed or not drafted:
        run.status = RunStatus.FAILED
        run.error = (
            f"{len(failed)} of {len(sections)} sections could not be drafted: {', '.join(failed)}"
            if failed
            else "No section had evidence to draft from."
        )
    else:
        run.status = RunStatus.COMPLETED
    run.save(update_fields=["status", "error", "finished_at"])
    logger.info(
        "run finished",
        extra={"run_id": run.pk, "status": run.status, "sections": len(sections), "drafted": len(drafted)},
    )


@transaction.atomic
def do_save_version(*, run: DeclarationRun, texts: dict[str, str], created_by: User, note: str = "") -> DraftVersion:
    """Save an edit as the next version; earlier versions stay exactly as they were."""
    locked = DeclarationRun.objects.select_for_update().get(pk=run.pk)
    latest = locked.latest_version()
    if latest is None:
        raise VersionFrozen("There is no draft to edit yet.")
    if latest.approved_at is not None:
        raise VersionFrozen(f"Version {latest.number} is approved and frozen; it can no longer be edited.")
    version = DraftVersion.objects.create(run=locked, number=latest.number + 1, created_by=created_by, note=note[:200])
    DraftSection.objects.bulk_create(
        DraftSection(
            version=version,
            key=s.key,
            heading=s.heading,
            order=s.order,
            text=texts.get(s.key, s.text).strip(),
            note=s.note,
        )
        for s in latest.sections.all()
    )
    return version


@transaction.atomic
def do_approve_version(*, version: DraftVersion, approved_by: User) -> DraftVersion:
    """Approve the run's latest version; from then on it is frozen. Assumes an attorney on the case."""
    locked = DraftVersion.objects.select_for_update().get(pk=version.pk)
    latest = locked.run.latest_version()
    if latest is None or latest.pk != locked.pk:
        raise VersionFrozen("Only the latest version can be approved.")
    if locked.approved_at is None:
        locked.approved_by = approved_by
        locked.approved_at = timezone.now()
        locked.save(update_fields=["approved_by", "approved_at"])
    return locked
