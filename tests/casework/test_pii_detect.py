"""PII detection over invented case text: recall on a marked inventory, and what it leaves alone.

The notes below are made up. Each PII item is marked `[[KIND|text]]`, with `KIND*` where it belongs
to one of the case's known parties; `{{text}}` marks words that are not PII, and `{{@text}}` the
dates of events, which are evidence and must stay as they are.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from casework.models import Case, Party, PartyRole
from casework.pii_detect import (
    A_NUMBER,
    DATE_OF_BIRTH,
    KNOWN_PARTY,
    KnownParties,
    PiiDetector,
    detect_pii,
)

KNOWN = KnownParties(
    names=(
        "María José Martínez-Pérez",
        "Majo",
        "Robert James Whitfield",
        "Bobby",
        "Diego Alejandro Whitfield",
        "Ana Lucía Pérez Gómez",
    ),
    a_numbers=("A207318429", "A87654321"),
    birth_dates=(date(1988, 7, 14), date(1979, 11, 2), date(2016, 2, 9)),
)

CASE_FILE = """\
INTAKE NOTES, prepared {{@October 4, 2023}} at the {{Legal Aid}} office in {{Springfield}}.

Client: [[PERSON*|MARTÍNEZ-PÉREZ, María José]] (goes by "[[PERSON*|Majo]]"), DOB [[DATE_OF_BIRTH*|07/14/1988]], \
[[A_NUMBER*|A# 207-318-429]]. Current address: [[STREET_ADDRESS|1420 Maple Street, Apt 3B, Springfield, IL 62704]]. \
Cell [[PHONE_NUMBER|(217) 555-0142]], e-mail [[EMAIL_ADDRESS|majo.mp88@example.com]]. She asks that we call only \
on weekdays, after {{5 pm}}.

[[PERSON*|Maria Jose Martinez Perez]] was born in {{Quetzaltenango}}, {{Guatemala}}, on \
[[DATE_OF_BIRTH*|July 14, 1988]] and entered the {{United States}} on {{@March 2, 2009}} (I-94 number \
[[I94_NUMBER|123456789A1]]; an older I-94 admission record shows [[I94_NUMBER|95312048711]]). Her Guatemalan \
passport number is [[PASSPORT_NUMBER|G4829173]]. Her family in {{Guatemala}} can be reached at \
[[PHONE_NUMBER|+502 5555 1234]]. {{USCIS}} knows her as [[A_NUMBER*|A207318429]]; the old {{EOIR}} file \
reads [[A_NUMBER*|A 207 318 429]] and a {{2015}} notice [[A_NUMBER*|A-207318429]]. Her A-number: \
[[A_NUMBER*|207318429]].

She met [[PERSON*|Robert James Whitfield]] in {{@2012}}; they married on {{@June 8, 2013}} at the \
{{Sangamon County}} clerk's office. [[PERSON*|Whitfield]] was born [[DATE_OF_BIRTH*|11/02/1979]] and is a \
{{U.S. citizen}}. During the marriage [[PERSON*|WHITFIELD, Robert]] controlled all the money; \
[[PERSON*|Bobby]], as his friends call him, took [[PERSON*|María]]'s paychecks from the {{Walmart}} on \
[[STREET_ADDRESS|3301 Veterans Pkwy]] every {{Friday}}. On her birthday, {{@July 14, 2020}}, [[PERSON*|Robert]]'s \
brother drove her to the {{hospital}}.

Her I-130 receipt is [[RECEIPT_NUMBER|IOE0912345678]] and the I-360 receipt notice reads \
[[RECEIPT_NUMBER|EAC2190012345]]; an earlier filing was [[RECEIPT_NUMBER|WAC-19-123-45678]]. A second \
I-360 receipt: [[RECEIPT_NUMBER|LIN2290154321]].

Their son, [[PERSON*|Diego Alejandro Whitfield]], was born on [[DATE_OF_BIRTH*|February 9, 2016]]. \
[[PERSON*|Diego]] takes his medicine {{3 times a day}} and sees Dr. [[PERSON|Samuel Okafor]] at the \
{{Memorial}} clinic. [[PERSON*|Diego]]'s school records list his birth date as [[DATE_OF_BIRTH*|2016-02-09]].

Her mother, [[PERSON*|Ana Lucía Pérez Gómez]] ([[A_NUMBER*|A87654321]]), lives at \
[[STREET_ADDRESS|88 W. Oak Ave., Unit 5, Chicago, IL 60614]]; [[PERSON*|Ana]] also has \
Alien Registration No. [[A_NUMBER*|087654321]] on an older card. Her brother's A-number is \
[[A_NUMBER|A-076-543-219]], and a cousin's is [[A_NUMBER|A#034567891]]; an uncle was given \
Alien Registration No. [[A_NUMBER|065 432 198]]. In {{@2019}} {{Family Court}} heard the custody case. \
[[PERSON*|Whitfield]] later gave his address as [[STREET_ADDRESS|1600 PENNSYLVANIA AVENUE NW, WASHINGTON, DC 20500]], \
which the court did not believe.

SPRINGFIELD POLICE DEPARTMENT, INCIDENT REPORT {{24-118093}}

On {{@03/15/2021}} at approximately {{@11:40 PM}}, Officer [[PERSON|Karen Mitchell]] responded to \
[[STREET_ADDRESS|2215 N. Lincoln Ave]] regarding a domestic disturbance. The victim, \
[[PERSON*|MARTINEZ PEREZ, MARIA]], stated that the suspect, [[PERSON*|R. Whitfield]], pushed her against \
the wall {{3 times}} and took her phone. Neighbor [[PERSON|Rosa Delgado]] (phone [[PHONE_NUMBER|217-555-0199]], \
[[EMAIL_ADDRESS|rdelgado@example.org]]) heard shouting. The suspect's SSN [[US_SSN|512-44-7301]] and date of \
birth [[DATE_OF_BIRTH*|Nov. 2, 1979]] were taken from his license. He left in a {{2014 Ford Focus}} before \
officers arrived. Sgt. [[PERSON|Patrick O'Brien]] reached the suspect's employer at \
[[PHONE_NUMBER|217.555.0143]]; his SSN also appears without dashes, SSN [[US_SSN|512447301]]. \
On {{@2021-03-16}} [[PERSON*|Martínez-Pérez]] gave a written statement, signed "[[PERSON*|M. Martínez-Pérez]]"; \
[[PERSON*|martinez-perez]]'s copy gives her birth date as [[DATE_OF_BIRTH*|14/07/1988]]. A protective order \
followed on {{@April 12, 2022}}. Case closed {{@5/1/2022}}.
"""

_MARK = re.compile(r"\[\[(?P<kind>[A-Z_0-9]+)(?P<known>\*?)\|(?P<pii>.+?)\]\]|\{\{(?P<event>@?)(?P<plain>.+?)\}\}")


@dataclass(frozen=True)
class Item:
    kind: str  # a PII kind, or "NOT_PII", or "EVENT_DATE"
    text: str
    start: int
    end: int
    known_party: bool = False


def parse(marked: str) -> tuple[str, list[Item]]:
    """The plain text and its inventory, from the marked-up notes."""
    pieces: list[str] = []
    items: list[Item] = []
    length = 0
    done = 0
    for match in _MARK.finditer(marked):
        before = marked[done : match.start()]
        pieces.append(before)
        length += len(before)
        if match.group("pii") is not None:
            kind, text = match.group("kind"), match.group("pii")
            items.append(Item(kind, text, length, length + len(text), bool(match.group("known"))))
        else:
            text = match.group("plain")
            items.append(Item("EVENT_DATE" if match.group("event") else "NOT_PII", text, length, length + len(text)))
        pieces.append(text)
        length += len(text)
        done = match.end()
    pieces.append(marked[done:])
    return "".join(pieces), items


TEXT, INVENTORY = parse(CASE_FILE)
PII_ITEMS = [item for item in INVENTORY if item.kind not in ("NOT_PII", "EVENT_DATE")]
NOT_PII = [item for item in INVENTORY if item.kind in ("NOT_PII", "EVENT_DATE")]


def covered(item: Item, findings: Iterable[Any]) -> bool:
    """Every non-space character of the item lies in a finding of its kind (what redaction needs)."""
    spans = [(f.start, f.end) for f in findings if f.kind == item.kind]
    return all(TEXT[i].isspace() or any(start <= i < end for start, end in spans) for i in range(item.start, item.end))


def overlaps(finding: Any, item: Item) -> bool:
    return finding.start < item.end and item.start < finding.end


def recall(items: list[Item], findings: list[Any]) -> tuple[float, list[str]]:
    missed = [f"{item.kind}:{item.text!r}" for item in items if not covered(item, findings)]
    return 1 - len(missed) / len(items), missed


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector.shared()


@pytest.fixture(scope="module")
def findings(detector: PiiDetector) -> list[Any]:
    return detector.detect(TEXT, known=KNOWN)


def test_the_inventory_is_big_enough_to_measure() -> None:
    assert len(PII_ITEMS) >= 40
    assert {item.kind for item in PII_ITEMS} >= {
        "PERSON",
        "A_NUMBER",
        "RECEIPT_NUMBER",
        "I94_NUMBER",
        "PASSPORT_NUMBER",
        "STREET_ADDRESS",
        "PHONE_NUMBER",
        "EMAIL_ADDRESS",
        "DATE_OF_BIRTH",
        "US_SSN",
    }
    assert all(TEXT[item.start : item.end] == item.text for item in INVENTORY)


def test_findings_do_not_overlap_and_are_sorted(findings: list[Any]) -> None:
    assert findings == sorted(findings, key=lambda f: f.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))
    assert all(TEXT[f.start : f.end] == f.text for f in findings)


def test_known_parties_are_found_in_every_written_form(findings: list[Any]) -> None:
    measured, missed = recall([item for item in PII_ITEMS if item.known_party], findings)
    assert measured >= 0.98, f"known-party recall {measured:.3f}; missed {missed}"


def test_a_numbers_are_found_however_they_are_written(findings: list[Any]) -> None:
    measured, missed = recall([item for item in PII_ITEMS if item.kind == A_NUMBER], findings)
    assert measured >= 0.98, f"A-number recall {measured:.3f}; missed {missed}"


def test_overall_recall_and_precision(findings: list[Any]) -> None:
    """The figures to report: recall per group and overall, and precision over every finding."""
    overall, missed = recall(PII_ITEMS, findings)
    known, _ = recall([item for item in PII_ITEMS if item.known_party], findings)
    a_numbers, _ = recall([item for item in PII_ITEMS if item.kind == A_NUMBER], findings)
    # A finding is right when it lies on an inventory item of its kind; anything else counts against.
    right = [f for f in findings if any(f.kind == item.kind and overlaps(f, item) for item in PII_ITEMS)]
    precision = len(right) / len(findings)
    wrong = [f"{f.kind}:{f.text!r}" for f in findings if f not in right]
    untouched = [item for item in NOT_PII if not any(overlaps(f, item) for f in findings)]
    left_alone = len(untouched) / len(NOT_PII)
    report = (
        f"{len(PII_ITEMS)} PII items, {len(NOT_PII)} non-PII phrases, {len(findings)} findings: "
        f"recall known parties {known:.3f}, A-numbers {a_numbers:.3f}, overall {overall:.3f}; "
        f"precision {precision:.3f}; non-PII left alone {left_alone:.3f}; missed {missed}; wrong {wrong}"
    )
    print(report)
    assert overall >= 0.90, report
    assert precision >= 0.8, report
    assert left_alone >= 0.8, report


def test_event_dates_are_not_birth_dates(findings: list[Any]) -> None:
    events = [item for item in INVENTORY if item.kind == "EVENT_DATE"]
    flagged = [e.text for e in events if any(f.kind == DATE_OF_BIRTH and overlaps(f, e) for f in findings)]
    assert flagged == []


def test_ordinary_text_has_nothing_to_find(detector: PiiDetector) -> None:
    text = "Take 3 times a day. In 2019 Family Court heard the case; the hearing lasted 2 hours on March 3, 2021."
    assert detector.detect(text, known=KnownParties()) == []


def test_a_known_party_beats_the_model_on_the_same_words(detector: PiiDetector) -> None:
    found = detector.detect("Yesterday Robert Whitfield called.", known=KNOWN)
    assert [(f.kind, f.text, f.source) for f in found] == [("PERSON", "Robert Whitfield", KNOWN_PARTY)]


def test_accents_and_case_do_not_hide_a_name(detector: PiiDetector) -> None:
    known = KnownParties(names=("María Martínez-Pérez",))
    for written in ("Martínez-Pérez", "Martinez Perez", "MARTINEZ PEREZ", "MARTÍNEZ-PÉREZ, María"):
        found = detector.detect(f"The report names {written} twice.", known=known)
        assert [f.text for f in found] == [written]


def test_empty_text_finds_nothing(detector: PiiDetector) -> None:
    assert detector.detect("", known=KNOWN) == []
    assert detect_pii("   ", known=KNOWN) == []


@pytest.mark.django_db
def test_known_parties_for_case_come_from_its_parties(firm_people: dict[str, Any]) -> None:
    case: Case = firm_people["case"]
    Party.objects.filter(case=case, role=PartyRole.CLIENT).update(birth_date=date(1990, 4, 12), aliases=["Janie"])
    known = KnownParties.for_case(case)
    assert known == KnownParties(
        names=("Jane Doe", "Janie", "John Roe"), a_numbers=("A123456789",), birth_dates=(date(1990, 4, 12),)
    )
    found = detect_pii("Jane Doe (A# 123-456-789, born 04/12/1990) left John Roe's house. Janie called.", known=known)
    assert [(f.kind, f.text) for f in found] == [
        ("PERSON", "Jane Doe"),
        ("A_NUMBER", "A# 123-456-789"),
        ("DATE_OF_BIRTH", "04/12/1990"),
        ("PERSON", "John Roe"),
        ("PERSON", "Janie"),
    ]
    assert {f.source for f in found} == {KNOWN_PARTY}
