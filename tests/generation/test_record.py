"""Facts from the case record: each recorded field of the client and the parties as a fact in the
extract stage's shape, in words that keep the client's own fields apart from everyone else's."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from casework.models import Case, Party, PartyRole
from generation.declarations import VAWA
from generation.record import answered_needs, record_facts, record_text, search_query, section_facts, still_to_ask

pytestmark = pytest.mark.django_db


@pytest.fixture
def vawa_case(firm_people: dict[str, Any]) -> Case:
    """The conftest case (client Jane Doe, abuser John Roe), its record filled in, and a child."""
    case: Case = firm_people["case"]
    case.parties.filter(role=PartyRole.CLIENT).update(
        name="María Elena Ramírez López",
        aliases=["Maria Ramirez"],
        birth_date=date(1990, 3, 3),
        country="Guatemala",
        language="Spanish",
        a_number="A201555013",
    )
    case.parties.filter(role=PartyRole.ABUSER).update(
        name="Daniel Robert Hayes", aliases=["Danny Hayes"], immigration_status="U.S. citizen"
    )
    Party.objects.create(case=case, role=PartyRole.CHILD, name="Sofia Hayes Ramirez", birth_date=date(2017, 6, 10))
    return case


def test_every_recorded_field_is_a_fact_about_the_party_it_describes(vawa_case: Case) -> None:
    facts = record_facts(vawa_case)
    assert [(f["id"], f["field"], f["actor"], f["text"]) for f in facts] == [
        ("R1", "client.name", "client", "My full name is María Elena Ramírez López."),
        ("R2", "client.aliases", "client", "I am also known as Maria Ramirez."),
        ("R3", "client.birth_date", "client", "I was born on March 3, 1990."),
        ("R4", "client.country", "client", "I am from Guatemala and a citizen of Guatemala."),
        ("R5", "client.language", "client", "My language is Spanish."),
        ("R6", "client.a_number", "client", "My A-number is A201555013."),
        ("R7", "abuser.name", "abuser", "My abuser is Daniel Robert Hayes."),
        ("R8", "abuser.aliases", "abuser", "My abuser, Daniel Robert Hayes, is also known as Danny Hayes."),
        (
            "R9",
            "abuser.immigration_status",
            "abuser",
            "The immigration status of my abuser, Daniel Robert Hayes, is U.S. citizen.",
        ),
        ("R10", "child.name", "child", "My child is Sofia Hayes Ramirez."),
        ("R11", "child.birth_date", "child", "My child, Sofia Hayes Ramirez, was born on June 10, 2017."),
    ]
    # Every fact is in the client's voice, but only her own fields make her their subject. Another party is
    # her abuser or child, by name; what is recorded of them is said of them, never as "I": the abuser's
    # status stays his.
    others = [f for f in facts if f["actor"] != "client"]
    assert others and not any(re.search(r"\b(I|me)\b|^My (?!abuser|child)", f["text"]) for f in others)
    assert all(re.search(r"\bmy (abuser|child)\b", f["text"], re.I) for f in others)
    assert {(f["n"], f["source"], f["chunk_id"], f["document_id"], f["page"], f["document_name"]) for f in facts} == {
        (0, "record", None, None, None, "Case record")
    }
    assert [f["id"] for f in facts if not f["narrative"]] == ["R6"]  # a record number is never narrative


def test_a_section_takes_the_record_facts_that_answer_its_needs_and_never_the_a_number(vawa_case: Case) -> None:
    facts = record_facts(vawa_case)
    intro = VAWA.section("introduction")
    mine = section_facts(facts, intro)
    assert [(f["id"], f["need"]) for f in mine] == [
        ("R1", "my full name"), ("R2", None), ("R3", "my date of birth"), ("R4", "where I was born"),
        ("R5", "my first language"),
    ]  # fmt: skip
    assert answered_needs(mine, intro) == list(intro.needs)  # the country answers both birthplace and nationality
    assert still_to_ask(mine, intro).needs == ()
    status = VAWA.section("abuser_status")
    theirs = section_facts(facts, status)
    assert [(f["id"], f["actor"]) for f in theirs] == [("R9", "abuser")]
    assert still_to_ask(theirs, status).needs == ("how I know his status", "where he was born")
    children = VAWA.section("children")
    assert [f["id"] for f in section_facts(facts, children)] == ["R10", "R11"]
    assert answered_needs(section_facts(facts, children), children) == []  # names alone say nothing of the abuse
    assert section_facts(facts, VAWA.section("physical_abuse")) == []


def test_a_record_without_a_field_answers_no_need_with_it(firm_people: dict[str, Any]) -> None:
    intro = VAWA.section("introduction")
    mine = section_facts(record_facts(firm_people["case"]), intro)  # Jane Doe: a name and an A-number
    assert [f["text"] for f in mine] == ["My full name is Jane Doe."]
    assert still_to_ask(mine, intro).needs == (
        "my date of birth",
        "where I was born",
        "my nationality",
        "my first language",
    )


def test_the_record_text_holds_every_field_and_every_alias(vawa_case: Case) -> None:
    assert record_text(vawa_case).splitlines() == [
        "Client: María Elena Ramírez López (also known as Maria Ramirez). Born: March 3, 1990. Country: Guatemala. "
        "Language: Spanish. A-number: A201555013.",
        "Abuser: Daniel Robert Hayes (also known as Danny Hayes). Immigration status: U.S. citizen.",
        "Child: Sofia Hayes Ramirez. Born: June 10, 2017.",
    ]


def test_a_section_about_the_children_searches_the_case_with_their_names(vawa_case: Case) -> None:
    children = VAWA.section("children")
    assert search_query(vawa_case, children) == f"{children.heading} {children.query} Sofia Hayes Ramirez"
    marriage = VAWA.section("marriage")
    assert search_query(vawa_case, marriage) == f"{marriage.heading} {marriage.query}"  # about no one in particular
