"""A refusal is told from an answer: model phrasing that addresses the request, at the start of the
answer or of a string value; a declaration's own first-person sentences are answers."""

from __future__ import annotations

import json

import pytest

from llmops.refusals import opening_refusal, refusal_in
from tests.llmops import shapes

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I\u2019m sorry, but I can\u2019t assist with that request.",
    "I cannot assist with this request.",
    "I can't provide a declaration describing sexual abuse.",
    "I'm not able to help with creating content that describes violence in this way.",
    "I apologize, but I cannot fulfill this request.",
    "I won't be able to help with that.",
    "Sorry, I can't do that.",
    "I must decline to write this.",
    "I'm unable to provide assistance with this request.",
    "As an AI language model, I cannot write about domestic violence.",
    "I understand this is a sensitive topic. However, I can't write that.",
    "If you or someone you know is experiencing abuse, please call the National Domestic Violence Hotline.",
    "**I cannot generate that content.**",
    "I can't provide that.",
    "Sorry, I can't write that.",
]

ANSWERS = [
    "I could not leave the house without his permission.",
    "I cannot remember the exact date he first hit me.",
    "I can't help thinking about that night.",
    "I can't help with the housework since he broke my wrist.",
    "I cannot provide for my children alone.",
    "I can't provide my birth certificate because he took it.",
    "I am not able to work because of my injuries.",
    "I will not go back to him.",
    "I cannot write English well, so my cousin helped me.",
    "I'm sorry, I cannot live without you. (his text message of May 3)",
    "I cannot continue like this.",
    "However, I cannot continue the relationship.",
    "I'm sorry, I can't continue.",
    "I can't share the apartment with him anymore.",
    "I cannot assist my mother since he took the car.",
    "I can't do this anymore.",
    "He said: I'm sorry, I can't help it.",
    "I understand English a little.",
    "Not stated in the excerpts.",
    "I cannot provide that from the excerpts.",
    "On June 10, 2017 Daniel pushed me down the stairs and I broke my wrist.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusal_phrasing_that_addresses_the_request_is_a_refusal(text: str) -> None:
    assert opening_refusal(text) is not None
    assert refusal_in(text, structured=False) is not None


@pytest.mark.parametrize("text", ANSWERS)
def test_a_declarations_first_person_sentences_are_not_refusals(text: str) -> None:
    assert opening_refusal(text) is None


def test_a_refusal_deep_in_an_answer_is_not_its_opening() -> None:
    text = "I met him in 2015. We married in 2016. He said I can't help with that, you do it."
    assert refusal_in(text, structured=False) is None


def test_a_json_answer_is_a_refusal_when_one_of_its_values_opens_with_one() -> None:
    refused = {
        shapes.NEEDS[0]: shapes.MET,
        shapes.NEEDS[1]: {"excerpt": 0, "actor": "other", "fact": "I'm sorry, but I can't help with that."},
    }
    assert refusal_in(json.dumps(refused), structured=True) is not None
    assert refusal_in(shapes.one_fact_for_four_needs(), structured=True) is None
    assert refusal_in(shapes.same_not_stated_for_four_needs(), structured=True) is None


def test_keys_are_the_callers_words_not_the_models() -> None:
    answer = {"I cannot assist with this request": shapes.MET}
    assert refusal_in(json.dumps(answer), structured=True) is None


def test_a_plain_refusal_where_json_was_asked_for_is_a_refusal() -> None:
    assert refusal_in("I'm sorry, I can't assist with that.", structured=True) is not None
    cut = '{"when they met": {"excerpt": 0, "fact": "As an AI, I cannot describe'
    assert refusal_in(cut, structured=True) is not None
