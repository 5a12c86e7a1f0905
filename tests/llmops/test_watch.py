"""The loop detectors on answers of real shapes: a repeated value under a schema is an answer; a
string that loops, an array past its maxItems or one object over and over is a loop."""

from __future__ import annotations

import json
import random

import pytest

from llmops.watch import JsonLoopDetector, LoopDetector, StreamLoopDetector, loop_detector_for
from tests.llmops import shapes


def pieces(text: str, seed: int = 7) -> list[str]:
    """Split as a host streams: tokens of one to six characters, cut anywhere (inside escapes too)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible splits, not secrets
    out, start = [], 0
    while start < len(text):
        size = rng.randint(1, 6)
        out.append(text[start : start + size])
        start += size
    return out


def fires(detector: StreamLoopDetector, text: str) -> bool:
    return any(detector.feed(piece) for piece in pieces(text))


@pytest.mark.parametrize(
    "answer",
    [shapes.same_not_stated_for_four_needs(), shapes.one_fact_for_four_needs()],
    ids=["not-stated", "one-fact"],
)
def test_a_value_repeated_for_several_needs_is_not_a_loop_under_a_schema(answer: str) -> None:
    json.loads(answer)  # a valid answer
    assert fires(LoopDetector(), answer), "the free-text detector cuts it: the case this guards"
    for seed in range(5):
        detector = JsonLoopDetector(shapes.extract_schema())
        assert not any(detector.feed(piece) for piece in pieces(answer, seed))


def test_an_array_past_its_max_items_is_a_loop_as_soon_as_the_extra_item_begins() -> None:
    answer = shapes.array_past_max_items()
    detector = JsonLoopDetector(shapes.extract_schema())
    streamed = ""
    for piece in pieces(answer):
        streamed += piece
        if detector.feed(piece):
            break
    else:
        pytest.fail("twelve copies where two are allowed ran to the end")
    tail = streamed[streamed.index('"other facts"') :]
    assert tail.count('"excerpt"') == 2  # cut at the third item's opening brace


def test_the_same_object_over_and_over_is_a_loop_even_without_max_items() -> None:
    schema = shapes.extract_schema()
    del schema["properties"]["other facts"]["maxItems"]
    answer = shapes.array_past_max_items(copies=12)
    detector = JsonLoopDetector(schema)
    fed = [piece for piece in pieces(answer)]
    cut_at = next(i for i, piece in enumerate(fed) if detector.feed(piece))
    assert "".join(fed[: cut_at + 1]).count(str(shapes.PUSHED["fact"])) == 5


def test_a_string_value_that_loops_inside_itself_is_a_loop() -> None:
    answer = shapes.fact_looping_inside_itself()
    detector = JsonLoopDetector(shapes.extract_schema())
    fed = pieces(answer)
    cut_at = next(i for i, piece in enumerate(fed) if detector.feed(piece))
    assert "".join(fed[: cut_at + 1]).count("he was sorry") < 6


def test_a_value_running_far_past_its_max_length_without_words_is_cut() -> None:
    answer = json.dumps({shapes.NEEDS[0]: {"excerpt": 1, "actor": "client", "fact": "a" * 5000}})
    assert fires(JsonLoopDetector(shapes.extract_schema()), answer)
    assert not fires(JsonLoopDetector(shapes.extract_schema()), json.dumps({shapes.NEEDS[0]: shapes.MET}))


def test_a_key_repeated_past_what_the_object_may_hold_is_a_loop() -> None:
    member = json.dumps(shapes.NEEDS[1]) + ": " + json.dumps(shapes.NOT_STATED)
    looping = "{" + ", ".join([member] * (len(shapes.NEEDS) + 2)) + "}"
    assert fires(JsonLoopDetector(shapes.extract_schema()), looping)


def test_short_values_may_repeat_in_an_array() -> None:
    schema = {"type": "object", "properties": {"scores": {"type": "array", "items": {"type": "integer"}}}}
    answer = json.dumps({"scores": [5] * 40, "labels": ["ok"] * 40})
    assert not fires(JsonLoopDetector(schema), answer)


def test_the_whole_answer_sent_again_and_again_is_a_loop() -> None:
    answer = json.dumps({shapes.NEEDS[0]: shapes.MET}, separators=(",", ":"))  # no spaces: no words to count
    assert fires(JsonLoopDetector(shapes.extract_schema()), answer * 8)
    assert not fires(JsonLoopDetector(shapes.extract_schema()), answer * 2)


def test_free_text_around_the_json_is_watched_as_free_text() -> None:
    chatty = "Here is the JSON you asked for, with every need answered. " * 6
    assert fires(JsonLoopDetector(shapes.extract_schema()), chatty + shapes.one_fact_for_four_needs())
    fenced = "```json\n" + shapes.one_fact_for_four_needs() + "\n```\n"
    assert not fires(JsonLoopDetector(shapes.extract_schema()), fenced)


def test_escapes_split_across_pieces_do_not_end_a_string_early() -> None:
    fact = 'He wrote \\"you are nothing without me\\" and \\\\ then left.'
    answer = '{"' + shapes.NEEDS[0] + '": {"excerpt": 1, "actor": "abuser", "fact": "' + fact + '"}}'
    json.loads(answer)
    detector = JsonLoopDetector(shapes.extract_schema())
    for piece in answer:  # one character at a time
        assert not detector.feed(piece)
    assert not detector._stack and not detector._in_string  # the answer closed where JSON says it does


def test_each_call_gets_the_detector_its_answer_needs() -> None:
    assert isinstance(loop_detector_for(None), LoopDetector)
    assert isinstance(loop_detector_for(shapes.extract_schema()), JsonLoopDetector)
    looping = "and then he said that he would call them " * 10
    assert fires(loop_detector_for(None), looping)
