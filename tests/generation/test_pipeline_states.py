"""The run's state machine, with a scripted responder in place of the model (the real model has its
own test in test_pipeline_realstack): stage order, results taken in once, re-asks, failures, the
guardrails and redrafting one section. BERTScore is the real one."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.conf import settings

from casework.models import DocumentStatus, Page, Party, PartyRole
from casework.pdfgen import text_pdf
from casework.uploads import do_store_upload
from generation.declarations import VAWA
from generation.models import DeclarationRun, RunStatus, SectionStatus, SectionStep, Stage, StepStatus
from generation.pipeline import (
    MAX_STEP_ATTEMPTS,
    VersionFrozen,
    advance_run,
    do_approve_version,
    do_regenerate_section,
    do_start_run,
)
from generation.report import run_summary
from generation.stages import extract
from generation.tasks import score_section_task
from llmops.calls import messages_of
from llmops.catalog import load_catalog
from llmops.models import CallStatus, LLMCall
from tests.scripted import first_person

pytestmark = pytest.mark.django_db

EVIDENCE = (
    "Maria Elena Ramirez Lopez was born on April 12, 1990 in Quetzaltenango, Guatemala. "
    "She is a citizen of Guatemala. She met Daniel Hayes in March 2015 at a church picnic in Houston."
)

Responder = Callable[[LLMCall], str]
LOOKED_FOR = extract.looked_for


def good_answer(call: LLMCall) -> str:
    """A well-behaved model: facts copied from excerpt 1, first-person sentences, fair judges."""
    schema = call.json_schema or {}
    if call.stage == "extract":
        answer: dict[str, Any] = {
            need: {
                "excerpt": 1,
                "actor": "client",
                "fact": "Maria was born on April 12, 1990 in Quetzaltenango, Guatemala",
            }
            for need in schema["properties"]
            if need != "other facts"
        }
        answer["other facts"] = [
            {"excerpt": 1, "actor": "client", "fact": "She met Daniel Hayes in March 2015 at a church picnic"}
        ]
        return json.dumps(answer)
    if call.stage == "draft":
        return json.dumps(
            {
                "sentences": [
                    {"facts": ["F1"], "text": "I was born on April 12, 1990 in Quetzaltenango, Guatemala."},
                    {"facts": ["F2"], "text": "I met Daniel Hayes in March 2015 at a church picnic."},
                ]
            }
        )
    if call.stage == "judge":
        slot = int(call.label.rsplit(" ", 1)[1]) - 1
        scores = {"specificity": 4, "consistency": 5, "support": 5, "tone": 4, "coverage": 2 + slot}
        return json.dumps({"remarks": f"judge {slot}", **scores, "flagged": []})
    if call.stage == "guardrails":
        count = schema["properties"]["rewrites"]["minItems"]
        return json.dumps({"rewrites": ["I met Daniel Hayes at a church picnic in Houston."] * count})
    raise AssertionError(call.stage)


@pytest.fixture
def case(firm_people: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """A case with one readable page, the catalog's routes, and nothing sent to Celery."""
    monkeypatch.setattr("llmops.calls.dispatch_on_commit", lambda call, countdown=0.0: None)
    monkeypatch.setattr("generation.pipeline._advance_on_commit", lambda run_id: None)
    monkeypatch.setattr("generation.tasks.score_section_task.delay", lambda **kwargs: None)
    # The scripted model's facts are F1, F2..: no sentence is looked for in the passages before it is asked
    # (test_sentences_looked_for_are_facts_and_the_model_is_asked_the_rest has them).
    monkeypatch.setattr("generation.stages.extract.looked_for", lambda *args, **kwargs: [])
    settings.AFFIANT_DRAFT_SECTIONS = ["introduction", "how_we_met"]
    settings.AFFIANT_JUDGE_ROUTES = ["judge_a", "judge_b", "judge_c"]  # three judges that can disagree
    load_catalog(settings.LLMOPS_CONFIG)
    case = firm_people["case"]
    case.parties.filter(role=PartyRole.CLIENT).update(name="Maria Elena Ramirez Lopez")  # her record: a name
    stored = do_store_upload(case=case, name="intake.pdf", stream=io.BytesIO(text_pdf([EVIDENCE])), uploaded_by=None)
    document = stored.document
    Page.objects.create(document=document, number=1, text=EVIDENCE)
    document.status = DocumentStatus.INDEXED
    document.save(update_fields=["status"])
    return case


def answer_waiting(run: DeclarationRun, respond: Responder) -> int:
    """Answer every waiting step once, as a model and the scoring task would; returns how many."""
    waiting = list(SectionStep.objects.filter(section__run=run, status=StepStatus.WAITING))
    for step in waiting:
        if step.stage == Stage.SCORE:
            score_section_task(step_id=step.pk)
            continue
        call = step.call
        assert call is not None
        call.output = respond(call)
        call.status = CallStatus.COMPLETED if call.output else CallStatus.FAILED
        call.error = "" if call.output else "the host answered 500"
        call.save()
        advance_run(run_id=run.pk, step_id=step.pk, call_id=call.pk)
    return len(waiting)


def run_to_the_end(run: DeclarationRun, respond: Responder = good_answer) -> DeclarationRun:
    advance_run(run_id=run.pk)
    for _ in range(20):
        if not answer_waiting(run, respond):
            break
    run.refresh_from_db()
    assert run.is_finished
    return run


def test_each_section_goes_through_the_five_stages_in_order(case: Any, firm_people: dict[str, Any]) -> None:
    run = run_to_the_end(do_start_run(case=case, created_by=firm_people["paralegal"]))
    assert run.status == RunStatus.COMPLETED, run.error
    for section in run.sections.all():
        assert section.status == SectionStatus.DRAFTED, section.note
        stages = [(s.stage, s.slot) for s in section.steps.order_by("id")]
        assert stages == [("extract", 0), ("draft", 0), ("judge", 0), ("judge", 1), ("judge", 2), ("score", 0)]
        found = [f for f in section.facts if f["source"] == "evidence"]
        assert [f["id"] for f in found] == ["F1", "F2"]
        assert all(f["chunk_id"] is None and f["page"] == 1 for f in found)  # lexical fallback: no chunks
        assert all(f["actor"] == "client" for f in found)
        assert section.judgement["judged"] == 3
        assert section.judgement["criteria"]["coverage"] == {
            "mean": 3.0, "min": 2, "max": 4, "scores": {"0": 2, "1": 3, "2": 4}, "disagree": True,
        }  # fmt: skip
        assert section.judgement["disagreements"] == ["coverage"]
        assert all(0 < s["bertscore"] <= 1 for s in section.sentences)
        assert section.text.startswith("I was born on April 12, 1990")
    version = run.versions.get()
    assert [s.key for s in version.sections.all()] == ["introduction", "how_we_met"]
    assert version.sections.get(key="introduction").sentences[0]["pages"] == [
        {"document_id": case.documents.get().pk, "name": "intake.pdf", "page": 1}
    ]


def drafts_from_the_facts_given(call: LLMCall) -> str:
    """good_answer, but the drafter writes one sentence for each fact it was given, in the client's voice,
    as a drafting model does with the case record's facts (the client's own are in her voice already)."""
    if call.stage != "draft":
        return good_answer(call)
    prompt = "\n".join(m.content for m in messages_of(call))
    lines = re.findall(r"^\[([FR]\d+)\] (.+)$", prompt, re.M)
    return json.dumps({"sentences": [{"facts": [i], "text": first_person(text)} for i, text in lines][:6]})


@pytest.mark.parametrize("passages", [True, False], ids=["with-passages", "no-passage-about-it"])
def test_the_introduction_is_drafted_from_the_case_record_and_lists_nothing_it_holds_as_missing(
    case: Any, passages: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AFFIANT_DRAFT_SECTIONS = ["introduction"]
    case.parties.filter(role=PartyRole.CLIENT).update(
        aliases=["Maria Ramirez"], birth_date=date(1990, 4, 12), country="Guatemala", language="Spanish"
    )
    Party.objects.create(case=case, role=PartyRole.CHILD, name="Sofia Hayes Ramirez", birth_date=date(2017, 6, 1))
    if not passages:
        monkeypatch.setattr("generation.pipeline.search_case", lambda *args, **kwargs: [])
    run = run_to_the_end(do_start_run(case=case, created_by=None), drafts_from_the_facts_given)

    intro = run.sections.get(key="introduction")
    assert intro.status == SectionStatus.DRAFTED, intro.note
    assert intro.missing == []  # name, date of birth, birthplace (as a country), nationality, language: recorded
    assert not intro.steps.filter(stage=Stage.EXTRACT).exists()  # nothing left to ask the model
    assert [(f["id"], f["need"], f["actor"], f["source"]) for f in intro.facts] == [
        ("R1", "my full name", "client", "record"),
        ("R2", None, "client", "record"),  # the aliases: usable, answering no need
        ("R3", "my date of birth", "client", "record"),
        ("R4", "where I was born", "client", "record"),
        ("R5", "my first language", "client", "record"),
    ]  # the A-number (R6) is a record fact but never narrative; the child's name belongs to another section
    assert intro.sentences[0]["text"] == "My full name is Maria Elena Ramirez Lopez."
    assert "I was born on April 12, 1990." in intro.text
    assert "A123456789" not in intro.text
    assert all(s["pages"] == [{"document_id": None, "name": "Case record", "page": None}] for s in intro.sentences)
    assert all(s["bertscore"] is not None for s in intro.sentences)  # scored against the record fact's text


def test_a_section_about_children_is_not_drafted_for_a_case_that_names_no_child(case: Any) -> None:
    settings.AFFIANT_DRAFT_SECTIONS = ["children", "how_we_met"]
    run = run_to_the_end(do_start_run(case=case, created_by=None))
    children = run.sections.get(key="children")
    assert children.status == SectionStatus.MISSING and not children.steps.exists()
    assert children.note == "The case names no child: add one to its parties to draft this."
    assert run.sections.get(key="how_we_met").status == SectionStatus.DRAFTED
    Party.objects.create(case=case, role=PartyRole.CHILD, name="Sofia Hayes Ramirez", birth_date=date(2017, 6, 1))
    again = run_to_the_end(do_start_run(case=case, created_by=None))
    assert again.sections.get(key="children").steps.filter(stage=Stage.EXTRACT).exists()


def test_a_failed_extraction_leaves_the_record_facts_to_draft_from(case: Any) -> None:
    def extraction_down(call: LLMCall) -> str:
        if call.stage == "extract" and "introduction" in call.label:
            return ""  # the host answered 500
        return drafts_from_the_facts_given(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), extraction_down)
    intro = run.sections.get(key="introduction")
    assert intro.status == SectionStatus.DRAFTED, intro.note
    assert "Extracting the facts from the documents failed" in intro.note
    assert [f["id"] for f in intro.facts] == ["R1"] and intro.text == "My full name is Maria Elena Ramirez Lopez."
    # Asked, and not answered.
    assert intro.missing == ["my date of birth", "where I was born", "my nationality", "my first language"]


def test_a_redelivered_callback_changes_nothing(case: Any, firm_people: dict[str, Any]) -> None:
    run = do_start_run(case=case, created_by=None)
    advance_run(run_id=run.pk)
    step = SectionStep.objects.filter(section__run=run, stage=Stage.EXTRACT).first()
    assert step is not None and step.call is not None
    step.call.output, step.call.status = good_answer(step.call), CallStatus.COMPLETED
    step.call.save()
    advance_run(run_id=run.pk, step_id=step.pk, call_id=step.call.pk)
    before = list(SectionStep.objects.filter(section__run=run).values_list("id", "status", "call_id"))
    advance_run(run_id=run.pk, step_id=step.pk, call_id=step.call.pk)  # the same message, delivered again
    assert list(SectionStep.objects.filter(section__run=run).values_list("id", "status", "call_id")) == before


def test_an_answer_that_is_not_json_is_asked_for_again_then_the_section_fails(
    case: Any, firm_people: dict[str, Any]
) -> None:
    def cut_off_drafts(call: LLMCall) -> str:
        if call.stage == "draft" and "introduction" in call.label:
            return '{"sentences": [{"facts": ["F1"], "text": "I was born'  # cut at the token limit
        return good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), cut_off_drafts)
    intro = run.sections.get(key="introduction")
    assert intro.status == SectionStatus.FAILED
    assert "not usable" in intro.note and "not complete JSON" in intro.note
    step = intro.steps.get(stage=Stage.DRAFT)
    assert step.attempts == MAX_STEP_ATTEMPTS == 3 and step.status == StepStatus.FAILED
    assert LLMCall.objects.filter(callback__kwargs__step_id=step.pk).count() == 3  # each try a call of its own
    assert run.status == RunStatus.COMPLETED and "introduction" in run.error  # the other section was drafted
    assert run.sections.get(key="how_we_met").status == SectionStatus.DRAFTED


def test_a_judge_that_fails_leaves_the_others_counted(case: Any) -> None:
    def second_judge_down(call: LLMCall) -> str:
        return "" if call.stage == "judge" and call.label.endswith(" 2") else good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), second_judge_down)
    judgement = run.sections.get(key="introduction").judgement
    assert judgement["judged"] == 2
    assert [j["error"] != "" for j in judgement["judges"]] == [False, True, False]
    assert run_summary(run)["judges"] == 2


def test_only_judges_with_a_valid_rubric_count_and_debris_is_not_shown(case: Any) -> None:
    def debris(call: LLMCall) -> str:
        if call.stage == "judge" and call.label.endswith(" 1"):
            return json.dumps({**json.loads(good_answer(call)), "remarks": ":{"})  # scored, but its remark is debris
        if call.stage == "judge" and call.label.endswith(" 3"):
            return json.dumps({"remarks": "Maria Elena Ramirez Lopez", "flagged": [{"sentence": 1, "reason": "x"}]})
        return good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), debris)
    intro = run.sections.get(key="introduction")
    judges = intro.judgement["judges"]
    assert intro.judgement["judged"] == 2 and [j["valid"] for j in judges] == [True, True, False]
    assert [j["remarks"] for j in judges] == ["", "", ""]  # ":{", "judge 1" (two words) and a bare name
    assert intro.judgement["criteria"]["coverage"]["scores"] == {"0": 2, "1": 3}  # the third does not count
    assert not any(f["kind"] == "judge" for s in intro.sentences for f in s["flags"])  # nor do its flags
    assert run_summary(run)["judges"] == 2  # judges that returned a valid rubric, not the three slots


def test_the_guardrails_rewrite_or_remove_what_is_not_supported(case: Any) -> None:
    """What fails the faithfulness gate or a judge is rewritten once; what still fails is removed with the
    reason, never kept with a flag (it used to be, when its facts backed it: a judge-flagged sentence
    whose rewrite failed stayed in the draft)."""

    def inventive(call: LLMCall) -> str:
        if call.stage == "draft":
            return json.dumps(
                {
                    "sentences": [
                        {"facts": ["F1"], "text": "I was born on April 12, 1990 in Quetzaltenango, Guatemala."},
                        {"facts": ["F2"], "text": "I met Daniel Hayes in 2019 at a wedding in Dallas."},
                        {"facts": ["F1"], "text": "Maria was born in Guatemala."},
                        {"facts": ["F2"], "text": "I met Daniel Hayes in March 2015 at a church picnic."},
                    ]
                }
            )
        if call.stage == "judge" and call.label.endswith(" 1"):
            answer = json.loads(good_answer(call))
            return json.dumps({**answer, "flagged": [{"sentence": 4, "reason": "too vague about the picnic"}]})
        if call.stage == "guardrails":
            # The invented year stays in the first rewrite and a place is invented in the second (so both
            # go). "Maria was born in Guatemala." needs none: the draft stage told it in her voice.
            rewrites = ["I met Daniel Hayes in 2019.", "I met Daniel Hayes in Austin."]
            return json.dumps({"rewrites": rewrites})
        return good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), inventive)
    intro = run.sections.get(key="introduction")
    texts = [s["text"] for s in intro.sentences]
    assert texts == ["I was born on April 12, 1990 in Quetzaltenango, Guatemala.", "I was born in Guatemala."]
    assert 'Removed "I met Daniel Hayes in 2019 at a wedding in Dallas."' in intro.note
    assert 'the date "2019" is not in its sources' in intro.note and '"Dallas" is not in its sources' in intro.note
    # Backed by its facts but flagged by a judge, and its rewrite invented a place: removed, not kept flagged.
    assert 'Removed "I met Daniel Hayes in March 2015 at a church picnic."' in intro.note
    assert "too vague about the picnic" in intro.note and '"Austin" is not in its sources' in intro.note
    assert all(f["kind"] == "rewritten" for s in intro.sentences for f in s["flags"] if f["kind"] != "weak_support")
    told = intro.sentences[1]
    assert told["original"] == "Maria was born in Guatemala."  # her name, told as "I" (generation.voice)
    assert not [f for f in told["flags"] if f["kind"] != "weak_support"]
    assert intro.steps.get(stage=Stage.GUARDRAILS).status == StepStatus.DONE


def test_the_gate_removes_a_sentence_with_an_invented_name_date_or_place(case: Any) -> None:
    invented = [
        "I met Daniel Hayes and his sister Rosa in March 2015 at a church picnic.",  # a name no document holds
        "I met Daniel Hayes on June 10, 2016 at a church picnic.",  # a date
        "I met Daniel Hayes in March 2015 at a church picnic in San Antonio.",  # a place
    ]

    def inventive(call: LLMCall) -> str:
        if call.stage == "draft":
            good = "I met Daniel Hayes in March 2015 at a church picnic."
            return json.dumps({"sentences": [{"facts": ["F2"], "text": t} for t in [good, *invented]]})
        if call.stage == "guardrails":
            return json.dumps({"rewrites": invented})  # the same inventions again: nothing better came
        return good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), inventive)
    section = run.sections.get(key="how_we_met")
    # The birth fact (F1), which the draft left out, is told in its own words, before the fact after it.
    assert [s["text"] for s in section.sentences] == [
        "I was born on April 12, 1990 in Quetzaltenango, Guatemala.",
        "I met Daniel Hayes in March 2015 at a church picnic.",
    ]
    for text, reason in zip(
        invented,
        ['"Rosa" is not in its sources', 'the date "June 10, 2016" is not in its sources', '"San Antonio" is not'],
        strict=True,
    ):
        assert f'Removed "{text}": {reason}' in section.note
    assert run.versions.get().sections.get(key="how_we_met").text == section.text  # not in the draft either


def test_a_failed_rewrite_removes_what_it_was_to_fix(case: Any) -> None:
    def no_rewrite(call: LLMCall) -> str:
        if call.stage == "draft":
            sentences = [
                {"facts": ["F1"], "text": "I was born on April 12, 1990 in Quetzaltenango, Guatemala."},
                {"facts": ["F1"], "text": "I am a U.S. citizen."},  # another's status, as the client's
            ]
            return json.dumps({"sentences": sentences})
        return "" if call.stage == "guardrails" else good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), no_rewrite)
    intro = run.sections.get(key="introduction")
    assert [s["text"] for s in intro.sentences] == [
        "I was born on April 12, 1990 in Quetzaltenango, Guatemala.",
        "I met Daniel Hayes in March 2015 at a church picnic.",  # F2, left out by the draft, in its own words
    ]
    assert 'Removed "I am a U.S. citizen."' in intro.note and "the guardrails rewrite failed" in intro.note.lower()
    assert "no usable rewrite came" in intro.note


def test_one_section_is_redrafted_into_a_new_version(case: Any, firm_people: dict[str, Any]) -> None:
    run = run_to_the_end(do_start_run(case=case, created_by=None))
    attorney = firm_people["attorney"]
    child = do_regenerate_section(run=run, key="how_we_met", created_by=attorney)
    with pytest.raises(VersionFrozen, match="being redrafted"):
        do_regenerate_section(run=run, key="how_we_met", created_by=attorney)

    def other_words(call: LLMCall) -> str:
        if call.stage == "draft":
            return json.dumps({"sentences": [{"facts": ["F2"], "text": "I met Daniel Hayes at a church picnic."}]})
        return good_answer(call)

    run_to_the_end(child, other_words)
    assert child.status == RunStatus.COMPLETED, child.error
    v1, v2 = run.versions.order_by("number")
    assert (v2.number, v2.created_by, v2.note) == (2, attorney, 'Section "How we met" redrafted')
    assert v2.sections.get(key="how_we_met").text == (
        "I was born on April 12, 1990 in Quetzaltenango, Guatemala. I met Daniel Hayes at a church picnic."
    )  # the birth fact, which this draft left out, in its own words
    assert v2.sections.get(key="introduction").text == v1.sections.get(key="introduction").text
    do_approve_version(version=v2, approved_by=attorney)
    with pytest.raises(VersionFrozen, match="approved and frozen"):
        do_regenerate_section(run=run, key="how_we_met", created_by=attorney)


def _age(model: Any, seconds: float, **fields_filter: Any) -> None:
    """Move a row's timestamps back, as if the time had passed."""
    from datetime import timedelta

    from django.utils import timezone

    then = timezone.now() - timedelta(seconds=seconds)
    model.objects.filter(**fields_filter).update(**{f: then for f in _TIMESTAMPS[model.__name__]})


_TIMESTAMPS = {
    "DeclarationRun": ["created_at", "started_at"],
    "SectionStep": ["created_at"],
    "LLMCall": ["finished_at"],
}


def test_the_reconciler_moves_on_runs_that_a_lost_message_left_waiting(
    case: Any, firm_people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost first advance, a lost callback, a lost scoring task, a lost advance: each is sent again once
    the run has waited AFFIANT_RUN_STALE_S, and not before; a scoring task lost three times is given up."""
    from generation.reconcile import MAX_SCORE_SENDS, reconcile_runs

    settings.AFFIANT_RUN_STALE_S = 60
    settings.AFFIANT_DRAFT_SECTIONS = ["introduction"]
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("generation.tasks.advance_run_task.delay", lambda **kw: sent.append(("advance", kw)))
    monkeypatch.setattr("generation.tasks.score_section_task.delay", lambda **kw: sent.append(("score", kw)))

    run = do_start_run(case=case, created_by=firm_people["paralegal"])  # its first advance is "lost"
    assert reconcile_runs().started == 0 and sent == []  # not stale yet
    _age(DeclarationRun, 120, pk=run.pk)
    assert reconcile_runs().started == 1
    assert sent == [("advance", {"run_id": run.pk})]
    sent.clear()

    advance_run(run_id=run.pk)  # the resent advance arrives: the extract call is asked for
    step = SectionStep.objects.get(section__run=run, stage=Stage.EXTRACT)
    assert step.call is not None
    call = step.call
    call.output, call.status = good_answer(call), CallStatus.COMPLETED
    call.save()  # the call ended, but its callback was "lost"
    assert reconcile_runs().callbacks == 0  # it ended just now: the callback may still be on its way
    _age(SectionStep, 121, pk=step.pk)  # time passes for the step (sent first) and its call alike
    _age(LLMCall, 120, pk=call.pk)
    assert reconcile_runs().callbacks == 1
    assert sent == [("advance", {"run_id": run.pk, "step_id": step.pk, "call_id": call.pk})]
    sent.clear()

    advance_run(run_id=run.pk, step_id=step.pk, call_id=call.pk)
    for _ in range(5):  # draft, judges, guardrails: answered with their callbacks delivered
        waiting = [s for s in SectionStep.objects.filter(section__run=run, status=StepStatus.WAITING)]
        if any(s.stage == Stage.SCORE for s in waiting):
            break
        answer_waiting(run, good_answer)
    score = SectionStep.objects.get(section__run=run, stage=Stage.SCORE, status=StepStatus.WAITING)
    assert reconcile_runs().scores == 0
    for sends in range(1, MAX_SCORE_SENDS):
        _age(SectionStep, 60 * sends + 1, pk=score.pk)
        assert reconcile_runs().scores == 1  # sent again, once per stale period
        assert reconcile_runs().scores == 0
    assert [kind for kind, _ in sent] == ["score"] * (MAX_SCORE_SENDS - 1)
    sent.clear()
    _age(SectionStep, 60 * MAX_SCORE_SENDS + 1, pk=score.pk)
    assert reconcile_runs().unscored == 1
    score.refresh_from_db()
    assert score.status == StepStatus.FAILED and "lost" in score.error
    assert sent == [("advance", {"run_id": run.pk})]  # and that advance is "lost" too

    _age(DeclarationRun, 300, pk=run.pk)
    assert reconcile_runs().resumed == 1  # running, nothing waiting: advanced again
    advance_run(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    sent.clear()
    assert reconcile_runs() == type(reconcile_runs())()  # a finished run is left alone
    assert sent == []


def test_a_redelivered_scoring_task_moves_the_run_on_without_scoring_again(
    case: Any, firm_people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AFFIANT_DRAFT_SECTIONS = ["introduction"]
    run = do_start_run(case=case, created_by=firm_people["paralegal"])
    advance_run(run_id=run.pk)
    for _ in range(5):
        if SectionStep.objects.filter(section__run=run, stage=Stage.SCORE).exists():
            break
        answer_waiting(run, good_answer)
    score = SectionStep.objects.get(section__run=run, stage=Stage.SCORE)
    from generation.pipeline import take_score_result

    take_score_result(step_id=score.pk, scores=[0.9, 0.9], error="")  # stored; then the worker died
    monkeypatch.setattr(
        "generation.scoring.sentence_support",
        lambda inputs: pytest.fail("scored twice"),
    )
    score_section_task(step_id=score.pk)  # the redelivery
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error


def test_a_sentence_an_earlier_section_holds_is_said_once_with_a_note(case: Any) -> None:
    born: dict[str, Any] = {"facts": ["F1"], "text": "I was born on April 12, 1990 in Quetzaltenango, Guatemala."}
    met: dict[str, Any] = {"facts": ["F2"], "text": "I met Daniel Hayes in March 2015 at a church picnic."}

    def both_sections_tell_the_birth(call: LLMCall) -> str:
        if call.stage != "draft":
            return good_answer(call)
        if "how_we_met" in call.label:  # the same passage answered both sections
            again = {**born, "text": born["text"].replace(" in Q", ", in Q")}
            return json.dumps(
                {"sentences": [again, {**met, "text": "I met Daniel Hayes at a church picnic in Houston."}]}
            )
        return json.dumps({"sentences": [born, met]})

    run = run_to_the_end(do_start_run(case=case, created_by=None), both_sections_tell_the_birth)
    version = run.versions.get()
    intro, met_section = version.sections.get(key="introduction"), version.sections.get(key="how_we_met")
    assert [s["text"] for s in intro.sentences] == [born["text"], met["text"]]
    houston = "I met Daniel Hayes at a church picnic in Houston."  # says more than the introduction's: kept
    assert [s["text"] for s in met_section.sentences] == [houston] and met_section.text == houston
    assert 'Removed "I was born on April 12, 1990, in Quetzaltenango, Guatemala.": "Introduction" says it already.' in (
        met_section.note
    )


def test_a_fact_whose_sentence_and_rewrite_both_fail_is_told_in_its_own_words(case: Any) -> None:
    """The 1.5B drafted "Richard took my paychecks ... on 2023-04-15 in New York City" and rewrote it no
    better: the fact itself, backed by its passage, is told in the client's voice instead of being lost."""

    def garbled(call: LLMCall) -> str:
        if call.stage == "draft" and "how_we_met" in call.label:
            sentences = [
                {"facts": ["F1"], "text": "I was born on April 12, 1990 in Quetzaltenango, Guatemala."},
                {"facts": ["F2"], "text": "I met Daniel Hayes on 2023-04-15 in New York City."},
            ]
            return json.dumps({"sentences": sentences})
        if call.stage == "guardrails":
            return json.dumps({"rewrites": ["I met Daniel Hayes in New York City."]})
        return good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), garbled)
    section = run.sections.get(key="how_we_met")
    own = section.sentences[1]
    assert own["text"] == "I met Daniel Hayes in March 2015 at a church picnic."  # F2: "She met Daniel Hayes ..."
    assert own["facts"] == ["F2"] and own["original"] == "I met Daniel Hayes on 2023-04-15 in New York City."
    assert [f["kind"] for f in own["flags"] if f["kind"] != "weak_support"] == ["rewritten"]
    assert own["pages"] == [{"document_id": case.documents.get().pk, "name": "intake.pdf", "page": 1}]
    assert '"New York City" is not in its sources' in section.note and "told in their own words" in section.note


def test_sentences_looked_for_are_facts_and_the_model_is_asked_the_rest(
    case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("generation.stages.extract.looked_for", LOOKED_FOR)
    settings.AFFIANT_DRAFT_SECTIONS = ["how_we_met"]
    asked: list[list[str]] = []

    def model(call: LLMCall) -> str:
        if call.stage == "extract":
            asked.append([need for need in (call.json_schema or {})["properties"] if need != "other facts"])
        if call.stage == "draft":
            return json.dumps(
                {
                    "sentences": [
                        {"facts": ["F1"], "text": "I met Daniel Hayes in March 2015 at a church picnic in Houston."}
                    ]
                }
            )
        return good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), model)
    section = run.sections.get(key="how_we_met")
    met = "She met Daniel Hayes in March 2015 at a church picnic in Houston."
    assert section.facts[0] == {**section.facts[0], "id": "F1", "need": "when we met", "text": met, "looked_for": True}
    assert section.facts[0]["actor"] == "client"  # her act, as the passage's words say
    # "when we met" was answered by the passage's own sentence: the model was asked the rest only, and its
    # "other facts" (the meeting again) is not told twice.
    assert [sorted(needs) for needs in asked] == [sorted(set(VAWA.section("how_we_met").needs) - {"when we met"})]
    assert [f["id"] for f in section.facts] == ["F1", "F2"] and "when we met" not in section.missing
    assert section.sentences[0]["text"] == "I met Daniel Hayes in March 2015 at a church picnic in Houston."


def test_a_section_with_sentences_looked_for_is_not_asked_again_for_nothing(
    case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("generation.stages.extract.looked_for", LOOKED_FOR)
    settings.AFFIANT_DRAFT_SECTIONS = ["how_we_met"]
    asked: list[int] = []

    def nothing_new(call: LLMCall) -> str:
        if call.stage == "extract":
            asked.append(call.pk)
            return json.dumps({"other facts": []})  # every need unanswered: the model found nothing more
        return good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), nothing_new)
    section = run.sections.get(key="how_we_met")
    assert len(asked) == 1  # not the MAX_STEP_ATTEMPTS a section with no fact at all is given
    assert [f["need"] for f in section.facts] == ["when we met"] and section.status == SectionStatus.DRAFTED
    assert "when we met" not in section.missing and "why I married him" in section.missing


def test_need_words_are_looked_for_beyond_the_passages_the_model_reads(
    case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The section's best passages are about dating and courtship; the sentence that says when they met is on
    # a page that ranks below them. It is still found (looking costs no call), and the section keeps, as its
    # evidence, the passage the model reads and the one its fact cites, not every passage looked in.
    monkeypatch.setattr("generation.stages.extract.looked_for", LOOKED_FOR)
    settings.AFFIANT_DRAFT_SECTIONS = ["how_we_met"]
    settings.AFFIANT_EVIDENCE_PASSAGES = 1
    document = case.documents.get()
    Page.objects.filter(document=document).update(number=3)
    courtship = "Courtship: a first date, dating, courtship, love. Dating and courtship; why married? Love."
    Page.objects.create(document=document, number=1, text=courtship)
    Page.objects.create(document=document, number=2, text=f"{courtship} Dating again.")
    run = run_to_the_end(do_start_run(case=case, created_by=None))
    section = run.sections.get(key="how_we_met")
    met = next(f for f in section.facts if f.get("looked_for"))
    assert met["text"].startswith("She met Daniel Hayes in March 2015") and met["page"] == 3
    # The model read passage 1; passage 2 was only looked in.
    assert [(e["n"], e["page"]) for e in section.evidence] == [(1, 1), (3, 3)] and met["n"] == 3


def test_a_section_whose_sentences_looked_for_fill_its_share_is_not_asked(
    case: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("generation.stages.extract.looked_for", LOOKED_FOR)
    monkeypatch.setattr("generation.stages.extract.LOOKED_FOR_PER_SECTION", 1)
    settings.AFFIANT_DRAFT_SECTIONS = ["how_we_met"]
    asked: list[int] = []

    def model(call: LLMCall) -> str:
        if call.stage == "extract":
            asked.append(call.pk)
        return good_answer(call)

    run = run_to_the_end(do_start_run(case=case, created_by=None), model)
    section = run.sections.get(key="how_we_met")
    assert asked == [] and [f["need"] for f in section.facts] == ["when we met"]
    # The needs left are listed for the attorney to ask the client about.
    assert "why I married him" in section.missing and "when we met" not in section.missing
    assert section.status == SectionStatus.DRAFTED
