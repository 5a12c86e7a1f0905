"""The declaration run's state machine. This module alone owns the order of stages and transitions.

Each section goes through five stages — extract, draft, judge, guardrails, score — on its own. A run
never waits on a task: it asks llmops for a call with a callback (or, to score, queues a task) and
`advance_run` moves the run on each time one ends. Every piece of work is a SectionStep that the
database allows once per (section, stage, slot), and a step's result is taken in once, so a
redelivered callback or a run resumed after a worker died does nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from casework.models import Case, CaseType, Chunk, DocumentStatus, PartyRole
from casework.search import search_case
from generation import declarations
from generation.flags import OpenSentence, is_open, open_flags, refusal, resolve
from generation.models import (
    DeclarationRun,
    DraftSection,
    DraftVersion,
    RunSection,
    RunStatus,
    SectionStatus,
    SectionStep,
    Stage,
    StepStatus,
)
from generation.record import (
    answered_needs,
    record_facts,
    record_text,
    search_query,
    section_facts,
    still_to_ask,
)
from generation.stages import draft, extract, guardrails, judge
from generation.stages.common import BadAnswer, content_terms, read_json, split_sentences, squash
from generation.voice import kin_of, told_by_client
from llmops.calls import Callback, NoModelAvailable, RedactorRef, messages_of, request_completion
from llmops.models import CallStatus, LLMCall, Route
from llmops.providers.base import Message

logger = logging.getLogger(__name__)

ADVANCE_TASK = "generation.advance_run"
# A model answer that is not the JSON asked for (cut off, say), or that held nothing usable, is asked for
# again, with another seed, up to this many tries in all: a small model's next sample often does better.
MAX_STEP_ATTEMPTS = 3


class VersionFrozen(Exception):
    """The draft cannot change: it is approved (or does not exist yet)."""


class RunNotStartable(Exception):
    """The case cannot be drafted yet; the message says why, for the paralegal."""


class FlagsOpen(Exception):
    """The version cannot be approved while a sentence has an unresolved flag; the message says how many
    and where."""

    def __init__(self, found: list[OpenSentence]) -> None:
        super().__init__(refusal(found))
        self.found = found


class NotResolvable(Exception):
    """The attorney's resolution of a flagged sentence cannot be made; the message says why."""


def stage_routes() -> dict[str, list[str]]:
    """The route each stage's calls take; judges have a slot (and so a route) each."""
    return {
        Stage.EXTRACT: ["extract"],
        Stage.DRAFT: ["draft"],
        Stage.JUDGE: list(settings.AFFIANT_JUDGE_ROUTES),
        Stage.GUARDRAILS: ["guardrails"],
    }


def check_can_start(case: Case) -> None:
    if not case.documents.filter(status__in=[DocumentStatus.INDEXED, DocumentStatus.NEEDS_OCR]).exists():
        raise RunNotStartable("Upload at least one readable document before drafting.")
    wanted = {route for routes in stage_routes().values() for route in routes}
    missing = sorted(wanted - set(Route.objects.filter(name__in=wanted).values_list("name", flat=True)))
    if missing:
        raise RunNotStartable(f"No model route named {', '.join(missing)} is configured; ask an ops admin.")
    if len(settings.AFFIANT_JUDGE_ROUTES) < 1:
        raise RunNotStartable("No judge route is configured (AFFIANT_JUDGE_ROUTES); ask an ops admin.")


def sections_to_draft(template: declarations.DeclarationTemplate) -> list[declarations.SectionSpec]:
    wanted = settings.AFFIANT_DRAFT_SECTIONS
    return [s for s in template.sections if not wanted or s.key in wanted]


def template_snapshot(template: declarations.DeclarationTemplate) -> dict[str, Any]:
    return {"key": template.key, "title": template.title, "sections": [asdict(s) for s in template.sections]}


def spec_of(run: DeclarationRun, key: str) -> declarations.SectionSpec:
    """The section as the run's own copy of its template has it (templates change; runs do not)."""
    for item in run.template_spec.get("sections", []):
        if item["key"] == key:
            return declarations.SectionSpec(
                **{
                    **item,
                    "needs": tuple(item.get("needs") or ()),
                    "record": tuple(tuple(pair) for pair in item.get("record") or ()),
                    "about": tuple(item.get("about") or ()),
                    "look_for": tuple(tuple(pair) for pair in item.get("look_for") or ()),
                }
            )
    return declarations.TEMPLATES[run.template].section(key)


@transaction.atomic
def do_start_run(*, case: Case, created_by: User | None, template_key: str | None = None) -> DeclarationRun:
    """Create a run with its sections and queue its first step after commit."""
    template = (
        declarations.TEMPLATES[template_key] if template_key else declarations.template_for_case_type(case.case_type)
    )
    run = DeclarationRun.objects.create(
        case=case,
        template=template.key,
        template_version=declarations.VERSION,
        template_spec=template_snapshot(template),
        created_by=created_by,
    )
    RunSection.objects.bulk_create(
        RunSection(run=run, key=spec.key, heading=spec.heading, order=i)
        for i, spec in enumerate(sections_to_draft(template))
    )
    _advance_on_commit(run.pk)
    return run


def _lock_latest_unapproved(run: DeclarationRun, *, none: str) -> tuple[DeclarationRun, DraftVersion]:
    """The run, locked, and its latest version, which must exist and not be approved (frozen)."""
    locked = DeclarationRun.objects.select_for_update().get(pk=run.pk)
    latest = locked.latest_version()
    if latest is None:
        raise VersionFrozen(none)
    if latest.approved_at is not None:
        raise VersionFrozen(f"Version {latest.number} is approved and frozen; it can no longer be changed.")
    return locked, latest


@transaction.atomic
def do_regenerate_section(*, run: DeclarationRun, key: str, created_by: User) -> DeclarationRun:
    """Draft one section again, through all five stages, as a small run of its own; when it ends its
    section replaces that of the run's latest version, as a new version."""
    locked, latest = _lock_latest_unapproved(run, none="There is no draft yet: wait for the run to finish.")
    section = latest.sections.filter(key=key).first()
    if section is None:
        raise VersionFrozen("That section is not part of this draft.")
    if locked.regenerations.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists():
        raise VersionFrozen("A section of this draft is being redrafted; wait for it to finish.")
    child = DeclarationRun.objects.create(
        case=locked.case,
        template=locked.template,
        template_version=locked.template_version,
        template_spec=locked.template_spec,
        created_by=created_by,
        regenerates=locked,
    )
    RunSection.objects.create(run=child, key=section.key, heading=section.heading, order=section.order)
    _advance_on_commit(child.pk)
    return child


def _advance_on_commit(run_id: int) -> None:
    def send() -> None:
        from generation.tasks import advance_run_task

        advance_run_task.delay(run_id=run_id)

    transaction.on_commit(send)


def advance_run(*, run_id: int, step_id: int | None = None, call_id: int | None = None) -> None:
    """Take in a finished call (if any), ask for what each section needs next, and finish the run
    when every section is through."""
    with transaction.atomic():
        run = DeclarationRun.objects.select_for_update().select_related("case").filter(pk=run_id).first()
        if run is None or run.is_finished:
            return  # the run vanished or already ended: a late callback has nothing to do
        if step_id is not None and call_id is not None:
            _take_call_result(run, step_id=step_id, call_id=call_id)
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
        sections = list(run.sections.select_for_update())
        context = _RunContext(run)
        for section in sections:
            if not section.is_finished:
                _progress(context, section)
        if all(s.is_finished for s in sections):
            _finish(run, sections)


class _RunContext:
    """What every section's steps need to know about the run, read once per advance."""

    def __init__(self, run: DeclarationRun) -> None:
        self.run = run
        client = run.case.client
        self.client_name = client.name if client else "the declarant"

    @cached_property
    def partner_name(self) -> str:
        """The abuser of a VAWA case, her spouse: what the two did together the client tells as "we"."""
        spouse = self.run.case.parties.filter(role=PartyRole.ABUSER).order_by("id").first()
        return spouse.name.strip() if spouse else ""

    @cached_property
    def record(self) -> list[dict[str, Any]]:
        """The case record's facts (generation.record), read once per advance and only when asked for."""
        return record_facts(self.run.case)

    @cached_property
    def kin(self) -> dict[str, str]:
        """What the client calls her child and her spouse (the abuser of a spouse's petition), as the case's
        documents name them (voice.kin_of)."""
        usable = (DocumentStatus.INDEXED, DocumentStatus.NEEDS_OCR)  # as Document.is_usable
        texts = Chunk.objects.filter(case=self.run.case, document__status__in=usable).values_list("text", flat=True)
        spouse = self.partner_name if self.run.case.case_type == CaseType.VAWA_SPOUSE else ""
        return kin_of(self.record_text, texts, spouse=spouse)

    @cached_property
    def record_text(self) -> str:
        """The case record as text (generation.record), for the faithfulness gate: read once per advance
        and only when asked for."""
        return record_text(self.run.case)


# --- taking results in --------------------------------------------------------------------------


def _take_call_result(run: DeclarationRun, *, step_id: int, call_id: int) -> None:
    step = SectionStep.objects.select_for_update().filter(pk=step_id, section__run=run).first()
    call = LLMCall.objects.filter(pk=call_id).first()
    if step is None or call is None or step.status != StepStatus.WAITING:
        return  # a redelivered callback: the result is already in
    if step.call_id not in {c.pk for c in call.chain()}:
        return  # the answer to an earlier request for this step, already handled
    step.call = call
    if call.status != CallStatus.COMPLETED:
        _end_step(step, StepStatus.FAILED, error=f"{call.error_kind or 'error'}: {call.error}"[:500])
        return
    try:
        step.result = read_json(call.output)
    except BadAnswer as exc:
        if not _ask_again(run, step):
            _end_step(step, StepStatus.FAILED, error=f"The model's answer was not usable: {exc}")
        return
    _end_step(step, StepStatus.DONE)


def _end_step(step: SectionStep, status: str, *, error: str = "") -> None:
    step.status = status
    step.error = error
    step.finished_at = timezone.now()
    step.save(update_fields=["status", "error", "result", "call", "finished_at"])


def take_score_result(*, step_id: int, scores: list[float | None] | None, error: str = "") -> int | None:
    """Store what the scoring task found, once; returns the run to advance (None if already in)."""
    with transaction.atomic():
        step = SectionStep.objects.select_for_update().select_related("section").filter(pk=step_id).first()
        if step is None or step.status != StepStatus.WAITING:
            return None
        step.result = {"scores": scores or []}
        _end_step(step, StepStatus.FAILED if error else StepStatus.DONE, error=error)
        return step.section.run_id


# --- moving a section on ------------------------------------------------------------------------


def _progress(context: _RunContext, section: RunSection) -> None:
    """Move the section through as many stages as are already done; stop at the first one waiting."""
    while not section.is_finished:
        stage = section.stage
        steps = list(section.steps.filter(stage=stage).order_by("slot"))
        if not steps:
            if _BEGIN[stage](context, section):
                return  # work was asked for: the section waits for it
        elif any(s.status == StepStatus.WAITING for s in steps):
            return
        else:
            _END[stage](context, section, steps)


def _next_stage(section: RunSection, stage: str) -> None:
    section.stage = stage
    section.save(update_fields=["stage"])


def _settle(section: RunSection, status: str, note: str = "") -> None:
    section.status = status
    section.stage = Stage.DONE
    if note:
        section.note = f"{section.note}\n{note}".strip()
    section.text = " ".join(s["text"] for s in section.sentences)
    section.save()


def _begin_extract(context: _RunContext, section: RunSection) -> bool:
    """Find the passages that speak to the section and ask the model for the facts its needs call for,
    except the needs the case record answers (those facts are the record's: generation.record) and those a
    passage's sentence answers in a need's words (extract.looked_for_facts); both are kept in section.facts
    from here on. A section they alone speak to is drafted from them, with no call."""
    run = context.run
    spec = spec_of(run, section.key)
    if spec.optional and spec.about and not run.case.parties.filter(role__in=spec.about).exists():
        # "Abuse of my children" of a client with no child: on the demo case it was drafted from the police
        # report's sentences about her husband, which a search for children's words found nearest.
        whom = " or ".join(PartyRole(role).label.lower() for role in spec.about)
        _settle(section, SectionStatus.MISSING, f"The case names no {whom}: add one to its parties to draft this.")
        return False
    section.facts = section_facts(context.record, spec)
    asked = still_to_ask(section.facts, spec)
    passages = [
        p
        for p in search_case(run.case, search_query(run.case, spec), k=settings.AFFIANT_LOOK_FOR_PASSAGES)
        if p.score >= settings.AFFIANT_MIN_PASSAGE_SCORE
    ]
    if not passages or (not asked.needs and answered_needs(section.facts, spec)):
        return _from_facts_at_hand(section, spec, "" if passages else "No passage in the case file speaks to it.")
    section.evidence = [
        {
            "n": n,
            "chunk_id": p.chunk_id,
            "document_id": p.document_id,
            "document_name": p.document_name,
            "page": p.page_number,
            "page_end": p.page_end or p.page_number,
            "score": round(p.score, 3),
            "text": p.text,
        }
        for n, p in enumerate(passages, start=1)
    ]
    # The documents' own sentences that answer a need come first; the model is asked only for the rest.
    looked = extract.looked_for_facts(asked, section.evidence, section.facts, context.record_text)
    section.facts += looked
    asked = extract.unanswered(asked, section.facts)
    # The section keeps the passages the model reads and those a fact cites; the rest were only looked in.
    cited = {f["n"] for f in section.facts if f.get("source") == "evidence"}
    section.evidence = [e for e in section.evidence if e["n"] <= settings.AFFIANT_EVIDENCE_PASSAGES or e["n"] in cited]
    section.status = SectionStatus.DRAFTING
    section.save(update_fields=["evidence", "facts", "status"])
    answered = len(_answered(section.facts, spec)) / len(spec.needs) if spec.needs else 1.0
    if (
        not asked.needs
        or len(looked) >= extract.LOOKED_FOR_PER_SECTION
        or answered >= settings.AFFIANT_EXTRACT_UNLESS_ANSWERED
    ):
        # A section whose documents' sentences fill its share, or answer most of its needs, has what its draft
        # can tell: the needs left are listed for the attorney, not asked (on the bench, 11 calls gave 5 of 75
        # sentences; later, 7 gave 1).
        return _from_facts_at_hand(section, spec, "")
    # The model reads the best passages only; the need words were looked for in more.
    shown = section.evidence[: settings.AFFIANT_EVIDENCE_PASSAGES]
    messages = extract.build_messages(client_name=context.client_name, section=asked, evidence=shown)
    return _request(
        context, section, Stage.EXTRACT, messages, extract.schema(asked, len(shown)), extract.max_tokens(asked)
    )


def _from_facts_at_hand(section: RunSection, spec: declarations.SectionSpec, why: str) -> bool:
    """Draft the section from the facts it holds before the model's (the record's, and the sentences looked
    for in its passages) when they answer any of its needs (else it is missing: nothing speaks to it).
    Returns False: no call was asked for."""
    answered = _answered(section.facts, spec)
    section.missing = [need for need in spec.needs if need not in answered]
    if not answered:
        section.facts = []
        _settle(section, SectionStatus.MISSING, "No passage in the case file speaks to this section. Ask the client.")
        return False
    section.status = SectionStatus.DRAFTING
    if why and section.missing:
        section.note = f"{section.note}\n{why} Drafted from the case record only.".strip()
    section.save(update_fields=["facts", "missing", "status", "note"])
    _next_stage(section, Stage.DRAFT)
    return False


def _answered(facts: list[dict[str, Any]], spec: declarations.SectionSpec) -> set[str]:
    return set(answered_needs(facts, spec)) | {f["need"] for f in facts if f.get("looked_for")}


def _end_extract(context: _RunContext, section: RunSection, steps: list[SectionStep]) -> None:
    """Take in the facts the model found in the passages; they join the section's record facts and the
    sentences looked for. A need those answer was not asked, so it is never missing."""
    step = steps[0]
    spec = spec_of(context.run, section.key)
    known = [f for f in section.facts if f.get("source") == "record" or f.get("looked_for")]
    if step.status == StepStatus.FAILED:
        if _answered(known, spec):
            section.facts = known
            section.note = f"{section.note}\nExtracting the facts from the documents failed: {step.error}".strip()
            _from_facts_at_hand(section, spec, "")
            return
        _settle(section, SectionStatus.FAILED, f"Extracting the facts failed: {step.error}")
        return
    asked = extract.unanswered(still_to_ask(known, spec), known)
    found, section.missing = extract.parse(
        step.result, asked, section.evidence, record=context.record_text, known=known
    )
    # Asked again only when nothing was found at all: a section with sentences looked for has its facts.
    if not found and not any(f.get("looked_for") for f in known) and _ask_again(context.run, step):
        return
    section.facts = known + found
    if not found and not _answered(known, spec):
        section.facts = []
        _settle(section, SectionStatus.MISSING, "The evidence found does not state the facts this section needs.")
        return
    section.save(update_fields=["facts", "missing"])
    _next_stage(section, Stage.DRAFT)


def _begin_draft(context: _RunContext, section: RunSection) -> bool:
    if section.facts and all(f.get("source") == "record" for f in section.facts):
        # The record's facts are sentences in her voice already (generation.record); asked to draft them, the
        # 1.5B garbled "My child, Sofía Kessler Torres, was born on ..." into "I am Sofía Kessler Torres, was born".
        by_id = {f["id"]: f for f in section.facts}
        section.sentences = [
            draft.new_sentence(str(f["text"]), [f["id"]], by_id) for f in section.facts if f.get("narrative", True)
        ]
        return _drafted(context, section)
    spec = spec_of(context.run, section.key)
    messages = draft.build_messages(
        client_name=context.client_name, section=spec, facts=section.facts, partner=context.partner_name
    )
    return _request(
        context, section, Stage.DRAFT, messages, draft.schema(section.facts), draft.max_tokens(section.facts)
    )


def _end_draft(context: _RunContext, section: RunSection, steps: list[SectionStep]) -> None:
    step = steps[0]
    if step.status == StepStatus.FAILED:
        _settle(section, SectionStatus.FAILED, f"Drafting failed: {step.error}")
        return
    section.sentences = draft.parse(step.result, section.facts)
    if not section.sentences and _ask_again(context.run, step):
        return
    _drafted(context, section)


def _drafted(context: _RunContext, section: RunSection) -> bool:
    """The section's sentences, drafted, told in her voice and cited, go to the judges. Returns False: no
    call was asked for."""
    if not section.sentences:
        _settle(section, SectionStatus.MISSING, "The model wrote nothing usable for this section.")
        return False
    facts_by_id = {f["id"]: f for f in section.facts}
    for sentence in section.sentences:
        sentence["pages"] = _pages(sentence, facts_by_id)
        # Facts from police reports speak of the client as "she": told by her, before anyone judges it.
        told = told_by_client(sentence["text"], record=context.record_text, kin=context.kin)
        if told != sentence["text"]:
            sentence["original"], sentence["text"] = sentence["text"], told
    section.save(update_fields=["sentences"])
    _next_stage(section, Stage.JUDGE)
    return False


def _pages(sentence: dict[str, Any], facts_by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The pages a sentence's facts come from; the case record is cited as one "page" with no document."""
    pages = {
        (f.get("document_id"), f.get("page")): {
            "document_id": f.get("document_id"),
            "name": f["document_name"],
            "page": f.get("page"),
        }
        for f in (facts_by_id[i] for i in sentence["facts"] if i in facts_by_id)
    }
    return list(pages.values())


def _begin_judge(context: _RunContext, section: RunSection) -> bool:
    spec = spec_of(context.run, section.key)
    messages = judge.build_messages(section=spec, facts=section.facts, sentences=section.sentences)
    count = len(section.sentences)
    waiting = False
    for slot, _route in enumerate(stage_routes()[Stage.JUDGE]):
        waiting |= _request(
            context, section, Stage.JUDGE, messages, judge.schema(count), judge.max_tokens(count), slot=slot
        )
    return waiting


def _end_judge(context: _RunContext, section: RunSection, steps: list[SectionStep]) -> None:
    count = len(section.sentences)
    # What a judge may say back as a "reason" that names no fault: the section's element, its sentences.
    said = [spec_of(context.run, section.key).element, *(s["text"] for s in section.sentences)]
    verdicts = [
        {
            "slot": s.slot,
            "route": s.route,
            "model": s.call.model.name if s.call and s.call.model_id else "",
            "verdict": judge.parse(s.result, count, section.facts, said) if s.status == StepStatus.DONE else None,
            "error": s.error,
        }
        for s in steps
    ]
    section.judgement = judge.aggregate(verdicts)
    for index, flags in judge.flags_by_sentence(verdicts).items():
        section.sentences[index]["flags"].extend(flags)
    section.save(update_fields=["judgement", "sentences"])
    _next_stage(section, Stage.GUARDRAILS)


def _begin_guardrails(context: _RunContext, section: RunSection) -> bool:
    sources = _sources(context, section)
    chosen = [c for c in guardrails.candidates(section.sentences, sources) if section.sentences[c.index]["facts"]]
    if not chosen:
        _apply_guardrails(context, section, None)
        return False
    messages = guardrails.build_messages(
        client_name=context.client_name, sentences=section.sentences, chosen=chosen, sources=sources
    )
    return _request(
        context,
        section,
        Stage.GUARDRAILS,
        messages,
        guardrails.schema(len(chosen)),
        guardrails.max_tokens(len(chosen)),
    )


def _end_guardrails(context: _RunContext, section: RunSection, steps: list[SectionStep]) -> None:
    step = steps[0]
    rewrites = step.result.get("rewrites") if step.status == StepStatus.DONE else None
    if step.status == StepStatus.FAILED:
        section.note = (
            f"{section.note}\nThe guardrails rewrite failed ({step.error}); the sentences it was to fix were removed."
        ).strip()
    _apply_guardrails(context, section, [str(r) for r in rewrites] if isinstance(rewrites, list) else None)


def _sources(context: _RunContext, section: RunSection) -> guardrails.Sources:
    """What the faithfulness gate checks the section's sentences against: their facts, the full text of
    the passages those come from, and the case record."""
    return guardrails.Sources.of(
        facts=section.facts, evidence=section.evidence, record=context.record_text, kin=context.kin
    )


def _apply_guardrails(context: _RunContext, section: RunSection, rewrites: list[str] | None) -> None:
    """Keep what passes the faithfulness gate (or a rewrite of it that does); remove the rest, with a note
    to the attorney saying why."""
    sources = _sources(context, section)
    chosen = guardrails.candidates(section.sentences, sources)
    asked = [c for c in chosen if section.sentences[c.index]["facts"]]
    aligned = _align(chosen, asked, rewrites)
    section.sentences, removed = guardrails.apply(section.sentences, chosen, aligned, sources)
    for sentence in section.sentences:  # a fact told in its own words cites that fact's page alone
        sentence["pages"] = _pages(sentence, sources.facts_by_id)
    if removed:
        section.note = "\n".join([section.note, *removed]).strip()
    if not section.sentences:
        _settle(section, SectionStatus.MISSING, "Every drafted sentence failed the faithfulness gate and was removed.")
        return
    section.save(update_fields=["sentences", "note"])
    _next_stage(section, Stage.SCORE)


def _align(
    chosen: list[guardrails.Candidate], asked: list[guardrails.Candidate], rewrites: list[str] | None
) -> list[str]:
    """Rewrites were asked for the candidates that cite facts; line them up with all candidates."""
    if not rewrites:
        return []
    by_index = dict(zip((c.index for c in asked), rewrites, strict=False))
    return [by_index.get(c.index, "") for c in chosen]


def _begin_score(context: _RunContext, section: RunSection) -> bool:
    step = SectionStep.objects.create(section=section, stage=Stage.SCORE, attempts=1)
    step_id = step.pk

    def send() -> None:
        from generation.tasks import score_section_task

        score_section_task.delay(step_id=step_id)

    transaction.on_commit(send)
    return True


def score_inputs(section: RunSection) -> list[tuple[str, list[str]]]:
    """Each sentence with the passages its facts come from; a fact of the case record is its own passage
    (its text is all the record says of it)."""
    texts = {e["n"]: e["text"] for e in section.evidence}
    facts_by_id = {f["id"]: f for f in section.facts}

    def passage(fact: dict[str, Any]) -> str:
        return fact["text"] if fact.get("source") == "record" else texts.get(fact["n"], fact["text"])

    return [
        (s["text"], list(dict.fromkeys(passage(facts_by_id[i]) for i in s["facts"] if i in facts_by_id)))
        for s in section.sentences
    ]


def _end_score(context: _RunContext, section: RunSection, steps: list[SectionStep]) -> None:
    from generation.scoring import is_weak

    step = steps[0]
    scores = step.result.get("scores") or []
    if step.status == StepStatus.FAILED or len(scores) != len(section.sentences):
        section.note = f"{section.note}\nSupport could not be scored ({step.error or 'no scores'}).".strip()
    else:
        for sentence, score in zip(section.sentences, scores, strict=True):
            sentence["bertscore"] = None if score is None else round(float(score), 4)
            if score is None or is_weak(score):
                sentence["flags"].append(
                    {"kind": "weak_support", "by": "BERTScore", "reason": "weakly supported by its cited passages"}
                )
    _settle(section, SectionStatus.DRAFTED)


_BEGIN: dict[str, Callable[[_RunContext, RunSection], bool]] = {
    Stage.EXTRACT: _begin_extract,
    Stage.DRAFT: _begin_draft,
    Stage.JUDGE: _begin_judge,
    Stage.GUARDRAILS: _begin_guardrails,
    Stage.SCORE: _begin_score,
}
_END: dict[str, Callable[[_RunContext, RunSection, list[SectionStep]], None]] = {
    Stage.EXTRACT: _end_extract,
    Stage.DRAFT: _end_draft,
    Stage.JUDGE: _end_judge,
    Stage.GUARDRAILS: _end_guardrails,
    Stage.SCORE: _end_score,
}


# --- asking for calls ---------------------------------------------------------------------------


def _request(
    context: _RunContext,
    section: RunSection,
    stage: str,
    messages: list[Message],
    schema: dict[str, Any],
    max_tokens: int,
    *,
    slot: int = 0,
) -> bool:
    """Create the step (once: the database refuses a second) and ask for its call. False when no model
    could take it (the step is failed at once and the section moves on)."""
    step = SectionStep.objects.create(section=section, stage=stage, slot=slot, route=stage_routes()[stage][slot])
    return _send_step(context.run, step, messages, schema, max_tokens)


def _ask_again(run: DeclarationRun, step: SectionStep) -> bool:
    """Ask the same question again (with another seed) when the answer was not usable JSON or held
    nothing usable: a small model's next sample often does. False when the step has had its tries
    (MAX_STEP_ATTEMPTS)."""
    call = step.call
    if call is None or step.attempts >= MAX_STEP_ATTEMPTS:
        return False
    step.status = StepStatus.WAITING
    step.finished_at = None
    step.save(update_fields=["status", "finished_at"])
    return _send_step(run, step, messages_of(call), call.json_schema, call.max_tokens)


def _send_step(
    run: DeclarationRun, step: SectionStep, messages: list[Message], schema: dict[str, Any] | None, max_tokens: int
) -> bool:
    step.attempts += 1
    try:
        call = request_completion(
            route=step.route,
            messages=messages,
            stage=step.stage,
            label=f"run {run.pk} {step.section.key} {step.stage}"
            + (f" {step.slot + 1}" if step.stage == Stage.JUDGE else ""),
            max_tokens=max_tokens,
            temperature=0.2 if step.stage != Stage.JUDGE else 0.4,
            json_schema=schema,
            callback=Callback(task=ADVANCE_TASK, kwargs={"run_id": run.pk, "step_id": step.pk}),
            allow_external=run.case.consent_external,
            redactor=RedactorRef(path="casework.pii:redactor_for_case", kwargs={"case_id": run.case_id}),
        )
    except NoModelAvailable as exc:
        step.status = StepStatus.FAILED
        step.error = str(exc)
        step.finished_at = timezone.now()
        step.save(update_fields=["attempts", "status", "error", "finished_at"])
        return False
    step.call = call
    step.save(update_fields=["attempts", "call"])
    return True


# --- the end of a run ---------------------------------------------------------------------------

_SECTION_FIELDS = ("key", "heading", "order", "text", "note", "sentences", "facts", "missing", "judgement")


def _finish(run: DeclarationRun, sections: list[RunSection]) -> None:
    run.finished_at = timezone.now()
    if run.regenerates_id is None:
        _say_each_thing_once(sections)
    drafted = [s for s in sections if s.status == SectionStatus.DRAFTED]
    failed = [s.key for s in sections if s.status == SectionStatus.FAILED]
    if run.regenerates_id is not None:
        _finish_regeneration(run, sections[0])
    else:
        version = DraftVersion.objects.create(run=run, number=1, note="Drafted by the pipeline")
        DraftSection.objects.bulk_create(
            DraftSection(version=version, **{f: getattr(s, f) for f in _SECTION_FIELDS}) for s in sections
        )
        if not drafted:
            run.status = RunStatus.FAILED
            run.error = "No section could be drafted from the evidence." + (
                f" Failed: {', '.join(failed)}." if failed else ""
            )
    if run.status != RunStatus.FAILED:
        run.status = RunStatus.COMPLETED
        run.error = f"Sections that need the attorney: {', '.join(failed)}." if failed else ""
    run.save(update_fields=["status", "error", "finished_at"])
    logger.info(
        "run finished",
        extra={"run_id": run.pk, "status": run.status, "sections": len(sections), "drafted": len(drafted)},
    )


def _say_each_thing_once(sections: list[RunSection]) -> None:
    """A sentence a section before it (in the template's order) already holds is taken out, with a note:
    one passage often answers two sections (the intake notes' worst night is both "Physical abuse" and
    "Seeking help"), and a declaration says each thing once. A section is never emptied this way."""
    said: dict[str, str] = {}
    for section in sorted(sections, key=lambda s: s.order):
        if section.status != SectionStatus.DRAFTED:
            continue
        kept, notes = [], []
        for sentence in section.sentences:
            earlier = next((heading for key, heading in said.items() if same_statement(key, sentence["text"])), None)
            if earlier is None:
                kept.append(sentence)
            else:
                notes.append(f'Removed "{sentence["text"]}": "{earlier}" says it already.')
        if notes and kept:
            section.sentences = kept
            _settle(section, SectionStatus.DRAFTED, "\n".join(notes))
        said.update((s["text"], section.heading) for s in section.sentences)


def same_statement(one: str, other: str) -> bool:
    """Whether two sentences say the same (their words alike but for a few: "I called 911 from the bathroom."
    and "I called 911 from the bathroom, and he was arrested." are not)."""
    a, b = set(content_terms(one)), set(content_terms(other))
    if not a or not b:
        return squash(one).lower() == squash(other).lower()
    return len(a & b) / len(a | b) >= 0.8


def _finish_regeneration(run: DeclarationRun, section: RunSection) -> None:
    assert run.regenerates_id is not None
    parent = DeclarationRun.objects.select_for_update().get(pk=run.regenerates_id)
    latest = parent.latest_version()
    if latest is None or latest.approved_at is not None:
        run.status = RunStatus.FAILED
        run.error = "The draft was approved while the section was redrafted; the new text was not added."
        return
    if section.status != SectionStatus.DRAFTED:
        run.status = RunStatus.FAILED
        run.error = f"The section could not be redrafted: {section.note or section.get_status_display()}"
        return
    _copy_version(
        parent,
        latest,
        created_by=run.created_by,
        note=f'Section "{section.heading}" redrafted',
        replace={section.key: {f: getattr(section, f) for f in _SECTION_FIELDS}},
    )


def _copy_version(
    run: DeclarationRun,
    latest: DraftVersion,
    *,
    created_by: User | None,
    note: str,
    replace: dict[str, dict[str, Any]],
) -> DraftVersion:
    version = DraftVersion.objects.create(run=run, number=latest.number + 1, created_by=created_by, note=note[:200])
    DraftSection.objects.bulk_create(
        DraftSection(version=version, **replace.get(s.key, {f: getattr(s, f) for f in _SECTION_FIELDS}))
        for s in latest.sections.all()
    )
    return version


# --- the attorney's changes ---------------------------------------------------------------------


@transaction.atomic
def do_save_version(*, run: DeclarationRun, texts: dict[str, str], created_by: User, note: str = "") -> DraftVersion:
    """Save an edit as the next version; earlier versions stay exactly as they were. A sentence the
    attorney left as it was keeps its citations and flags; new wording is marked as the attorney's."""
    locked, latest = _lock_latest_unapproved(run, none="There is no draft to edit yet.")
    replace = {}
    for section in latest.sections.all():
        if section.key in texts and texts[section.key].strip() != section.text.strip():
            text = texts[section.key].strip()
            fields = {f: getattr(section, f) for f in _SECTION_FIELDS}
            fields.update(text=text, sentences=resentence(text, section.sentences))
            replace[section.key] = fields
    return _copy_version(locked, latest, created_by=created_by, note=note, replace=replace)


def resentence(text: str, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Split edited text into sentences, keeping what an unchanged sentence knew about its sources."""
    known = {squash(s["text"]): s for s in before}
    sentences = []
    for paragraph in text.split("\n\n"):
        for piece in split_sentences(paragraph):
            sentences.append(
                known.get(piece)
                or {
                    "text": piece,
                    "facts": [],
                    "chunks": [],
                    "pages": [],
                    "flags": [{"kind": "edited", "by": "attorney", "reason": "the attorney's wording; no citation"}],
                    "bertscore": None,
                }
            )
    return sentences


@transaction.atomic
def do_approve_version(*, version: DraftVersion, approved_by: User) -> DraftVersion:
    """Approve the run's latest version; from then on it is frozen. Refused (FlagsOpen) while any of its
    sentences has an open flag (generation.flags). Assumes an attorney on the case."""
    locked = DraftVersion.objects.select_for_update().get(pk=version.pk)
    latest = locked.run.latest_version()
    if latest is None or latest.pk != locked.pk:
        raise VersionFrozen("Only the latest version can be approved.")
    if locked.approved_at is None:
        found = open_flags(locked)
        if found:
            raise FlagsOpen(found)
        locked.approved_by = approved_by
        locked.approved_at = timezone.now()
        locked.save(update_fields=["approved_by", "approved_at"])
    return locked


# --- resolving flagged sentences ----------------------------------------------------------------
# Each resolution is a new version, like an edit: what the attorney approves can always be traced to who
# accepted or removed what, and why.


def _sentence_to_resolve(
    run: DeclarationRun, *, number: int, key: str, index: int
) -> tuple[DeclarationRun, DraftVersion, DraftSection]:
    """The run (locked), its latest version, which must be `number` (the one the attorney was shown) and
    not approved, and the section holding sentence `index`."""
    locked, latest = _lock_latest_unapproved(run, none="There is no draft yet.")
    if latest.number != number:
        raise NotResolvable(
            f"Version {number} is no longer the latest (version {latest.number} is); resolve flags on the latest."
        )
    section = latest.sections.filter(key=key).first()
    if section is None or not 0 <= index < len(section.sentences):
        raise NotResolvable("That sentence is not part of this draft.")
    return locked, latest, section


@transaction.atomic
def do_accept_sentence(
    *, run: DeclarationRun, number: int, key: str, index: int, reason: str, accepted_by: User
) -> DraftVersion:
    """Accept a flagged sentence as it stands, as the next version: its open flags stay on it, marked
    resolved with the attorney's reason, so they no longer block approval."""
    reason = " ".join(reason.split())
    if not reason:
        raise NotResolvable("Say why the sentence may stand: a reason is required to accept it.")
    locked, latest, section = _sentence_to_resolve(run, number=number, key=key, index=index)
    sentence = section.sentences[index]
    if not any(is_open(f) for f in sentence["flags"]):
        raise NotResolvable("That sentence has no open flag to accept.")
    flags = [resolve(f, how="accepted", reason=reason, by=accepted_by) if is_open(f) else f for f in sentence["flags"]]
    sentences = [*section.sentences[:index], {**sentence, "flags": flags}, *section.sentences[index + 1 :]]
    return _with_section_changed(
        locked,
        latest,
        section,
        created_by=accepted_by,
        note=f'Accepted sentence {index + 1} of "{section.heading}": {reason}',
        sentences=sentences,
    )


@transaction.atomic
def do_remove_sentence(*, run: DeclarationRun, number: int, key: str, index: int, removed_by: User) -> DraftVersion:
    """Remove one sentence from its section, as the next version; the rest keep their citations and flags."""
    locked, latest, section = _sentence_to_resolve(run, number=number, key=key, index=index)
    return _with_section_changed(
        locked,
        latest,
        section,
        created_by=removed_by,
        note=f'Removed sentence {index + 1} of "{section.heading}"',
        sentences=[*section.sentences[:index], *section.sentences[index + 1 :]],
        text=_text_without(section.text, section.sentences, index),
    )


def _with_section_changed(
    run: DeclarationRun,
    latest: DraftVersion,
    section: DraftSection,
    *,
    created_by: User,
    note: str,
    **changes: Any,
) -> DraftVersion:
    """The next version: the latest with one section's fields changed."""
    fields = {f: getattr(section, f) for f in _SECTION_FIELDS}
    fields.update(changes)
    return _copy_version(run, latest, created_by=created_by, note=note, replace={section.key: fields})


def _text_without(text: str, sentences: list[dict[str, Any]], index: int) -> str:
    """The section's text less sentence `index`, keeping its paragraphs where the text splits into exactly
    its sentences (as an edit's text does); else the remaining sentences joined, as the pipeline joins them."""
    paragraphs = [split_sentences(p) for p in text.split("\n\n")]
    pieces = [piece for paragraph in paragraphs for piece in paragraph]
    if pieces != [squash(s["text"]) for s in sentences]:
        return " ".join(s["text"] for i, s in enumerate(sentences) if i != index)
    kept: list[str] = []
    seen = 0
    for paragraph in paragraphs:
        remaining = [piece for n, piece in enumerate(paragraph, start=seen) if n != index]
        seen += len(paragraph)
        if remaining:
            kept.append(" ".join(remaining))
    return "\n\n".join(kept)
