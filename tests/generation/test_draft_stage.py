from __future__ import annotations

from casework.search import Passage
from generation.declarations import VAWA
from generation.stages.draft import build_messages, clean_output
from llmops.context import render


def _passage(text: str, page: int = 1) -> Passage:
    return Passage(document_id=1, document_name="intake.pdf", page_number=page, text=text, score=1.0)


def test_the_prompt_carries_the_evidence_and_primes_the_first_person() -> None:
    long_text = "He took my passport in May 2017. " * 40
    messages = build_messages(
        client_name="Jane Doe",
        section=VAWA.section("how_we_met"),
        passages=[_passage("We met in 2015."), _passage(long_text, 2)],
    )
    system, user, primer = render(tuple(messages))
    assert len(messages[0].evidence) == 2  # droppable, best first
    assert '[1] intake.pdf, page 1: "We met in 2015."' in system.content
    assert "[2] intake.pdf, page 2:" in system.content
    assert '2017."' in system.content  # a long passage is cut after a whole sentence
    assert "How we met" in user.content and "Jane Doe" in user.content
    assert (primer.role, primer.content) == ("assistant", "I")


def test_clean_output_keeps_whole_sentences_once() -> None:
    raw = " met him in 2015. We married in 2016. We married in 2016. He was kind and"
    assert clean_output(raw) == "I met him in 2015. We married in 2016."


def test_clean_output_stops_where_the_model_invents_another_excerpt() -> None:
    raw = ' met Daniel in March 2015 at a picnic.\n[5] medical-record.pdf, page 3: "He was born'
    assert clean_output(raw) == "I met Daniel in March 2015 at a picnic."


def test_clean_output_refuses_answers_too_short_to_be_a_section() -> None:
    assert clean_output(".") == ""
    assert clean_output(" am.") == ""
    assert clean_output("") == ""
