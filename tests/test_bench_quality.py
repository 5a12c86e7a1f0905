"""The quality bench's own measures (bench/quality.py), without a model: what counts as an invented name,
date or number, a first-person sentence and a covered gold fact; and that its case is well formed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.quality import (
    CASE_DIR,
    PDF_LINES,
    Sources,
    first_person,
    first_person_subject,
    invented_in,
    load_gold,
    matches,
    measure,
    pdf_pages,
)


@pytest.fixture(scope="module")
def sources() -> Sources:
    case = json.loads((CASE_DIR / "case.json").read_text())
    record = [case["client"]["name"], case["client"]["birth_date"], case["client"]["a_number"]]
    record += [p["name"] for p in case["parties"]] + [case["client"]["country"]]
    return Sources.of([p.read_text() for p in sorted(CASE_DIR.glob("[0-9]*.txt"))] + record)


def kinds(sentence: str, sources: Sources) -> list[tuple[str, str]]:
    return [(i["kind"], i["text"]) for i in invented_in(sentence, sources)]


def test_what_the_documents_and_record_hold_is_not_invented(sources: Sources) -> None:
    for sentence in [
        "My name is Ana Lucía Torres Villanueva and I was born on 3/14/1991 in Cochabamba, Bolivia.",
        "We were married on June 20th, 2015 at the Pima County Superior Court in Tucson.",
        "We lived at 2245 East Calle Lucero, Apt 6, from July 2015 until May 2018.",
        "On April 22, 2021 at about 11:20 p.m. Rick choked me and I broke my left wrist.",
        "He gave me $40 a week.",
        "Officer Brandt arrested Mr. Kessler, and Deborah Lin had called 911 on 04/17/2021.",
        "I was born in 1991 and came to the United States in August 2014.",
    ]:
        assert kinds(sentence, sources) == [], sentence


def test_names_dates_and_numbers_no_source_holds_are_invented(sources: Sources) -> None:
    assert kinds("My cousin Carlos Mendoza came to our wedding.", sources) == [("person", "Carlos Mendoza")]
    # A date is compared as a whole date: 2016 and June 20 each occur, June 20, 2016 does not.
    assert kinds("We married on June 20, 2016.", sources) == [("date", "June 20, 2016")]
    assert kinds("We married in March 2015.", sources) == [("month", "March 2015")]
    assert kinds("I came in 2013.", sources) == [("year", "2013")]
    assert kinds("Call me at (520) 555-0199.", sources) == [("number", "(520) 555-0199")]
    assert kinds("At 11:45 pm he left.", sources) == [("time", "11:45 pm")]


def test_first_person_is_the_clients_voice_outside_quotes() -> None:
    assert first_person("He grabbed my arm.") and not first_person_subject("He grabbed my arm.")
    assert first_person("I was born in Cochabamba.") and first_person_subject("We married in 2015.")
    assert not first_person("He is a US citizen.")
    assert not first_person("The client stated that I-130 papers were never filed.")
    assert not first_person_subject('He wrote: "I call immigration."')


def test_gold_matching_takes_all_groups_any_phrase_and_dates_in_any_form() -> None:
    groups = [["wrist"], ["broke", "fracture"]]
    assert matches("I broke my left wrist.", groups) and not matches("My wrist hurt.", groups)
    for written in ["June 20, 2015", "20 June 2015", "6/20/2015", "2015-06-20"]:
        assert matches(f"We married on {written}.", [["2015-06-20"]]), written
        assert matches(f"We married on {written}.", [["2015-06"]]), written
    assert matches("We met in October 2014.", [["2014-10"]]) and not matches("We met in 2014.", [["2014-10"]])
    assert matches("My name is Ana Lucia Torres-Villanueva.", [["Ana Lucía Torres Villanueva"]])


def test_measure_counts_the_figures(sources: Sources) -> None:
    sections: list[dict[str, Any]] = [
        {
            "key": "marriage",
            "text": "We married on June 20, 2015. Carlos Mendoza was there.",
            "sentences": [
                {"text": "We married on June 20, 2015.", "flags": []},
                {"text": "Carlos Mendoza was there.", "flags": [{"kind": "unsupported"}]},
            ],
        },
        {"key": "children", "text": "", "sentences": []},
    ]
    gold = [
        {"id": "a", "section": "marriage", "match": [["2015-06-20"]]},
        {"id": "b", "section": "residence", "match": [["Calle Lucero"]]},
    ]
    measured = measure(sections, gold, sources)
    assert measured["summary"] == {
        "sections_drafted": 1, "sections": 2, "sentences": 2, "words": 10, "gold_facts_covered": 1,
        "gold_facts": 2, "invented_entities": 1, "flagged": 1, "first_person_ratio": 0.5,
    }  # fmt: skip
    assert [g["covered"] for g in measured["gold"]] == [True, False]


def test_the_case_is_well_formed(sources: Sources) -> None:
    gold = load_gold()  # every fact names a VAWA section
    assert len(gold) >= 40 and len({g["id"] for g in gold}) == len(gold)
    documents = sorted(CASE_DIR.glob("[0-9]*.txt"))
    assert len(documents) >= 5
    for path in documents:
        assert all(len(page.splitlines()) <= PDF_LINES for page in pdf_pages(path.read_text())), path
    # Every gold fact is stated somewhere in the documents (so a draft can state it).
    text = " ".join(p.read_text() for p in documents).replace("\n", " ").replace("U.S. ", "U.S ")
    sentences = [s for s in text.split(". ") if s]
    assert [g["id"] for g in gold if not any(matches(s, g["match"]) for s in sentences)] == []
