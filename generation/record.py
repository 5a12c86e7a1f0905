"""Facts from the case record: what the firm recorded about the client and the other parties (names,
aliases, birth dates, A-numbers, country, language, status), in the same shape as the facts the extract
stage finds in the documents, so a section can state and cite them ("Case record") like any other.

A record fact is a short sentence, in the client's voice: her own fields as hers ("I was born on
April 12, 1990."), another party's as that of her abuser or child, by name ("The immigration status of
my abuser, Daniel Hayes, is U.S. citizen."). A drafting model copies a fact's wording, and a small one
copied "The client was born on ..." as it stood (Qwen2.5-Coder-0.5B, the demo case), so the only "I" a
record fact offers is the client's, and the draft speaks of the others as hers to tell of.
Dates are written as "April 12, 1990", the form a model copies best. A-numbers are facts of the record,
never narrative: the faithfulness gate looks names and numbers up in record_text, but no section is given
an A-number to draft from.

Which record facts a section uses, and which of its needs they answer, is the section's `record` hint in
generation.declarations: (field, need) pairs, need "" for a field the section may use beyond its needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from typing import Any

from casework.models import Case, Party, PartyRole
from generation.declarations import SectionSpec

DOCUMENT_NAME = "Case record"

# Who a party's recorded fields are about, as the extract stage names actors. A trafficker is the
# perpetrator of a T visa case: the same side of the declaration as an abuser.
_ACTOR: dict[str, str] = {
    PartyRole.CLIENT: "client",
    PartyRole.ABUSER: "abuser",
    PartyRole.TRAFFICKER: "abuser",
    PartyRole.CHILD: "child",
    PartyRole.OTHER: "other",
}
# The fields a section may draw on, in the order facts are numbered.
FIELDS = ("name", "aliases", "birth_date", "country", "language", "immigration_status", "a_number")
# Record numbers are never narrative (issue 12: contact details and record numbers never become narrative).
_NOT_NARRATIVE = {"a_number"}


def long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def _parties(case: Case) -> list[Party]:
    """The client (the case's first, as Case.client has it) first, then the other parties in the order
    they were added."""
    parties = list(case.parties.order_by("id"))
    clients = [p for p in parties if p.role == PartyRole.CLIENT][:1]
    return clients + [p for p in parties if p.role != PartyRole.CLIENT]


def _values(party: Party) -> dict[str, str]:
    values = {
        "name": party.name.strip(),
        "aliases": ", ".join(a.strip() for a in party.aliases or [] if str(a).strip()),
        "birth_date": long_date(party.birth_date) if party.birth_date else "",
        "country": party.country.strip(),
        "language": party.language.strip(),
        "immigration_status": party.immigration_status.strip(),
        "a_number": party.a_number.strip(),
    }
    return {field: value for field, value in values.items() if value}


def _sentence(party: Party, field: str, value: str) -> str:
    """The field as a short sentence in the client's voice: her own ("I was born on ..."), another party's
    as that of her abuser or child, by name ("My child, Sofía, was born on ..."); an "other" party's by
    name alone, since the record does not say who they are to her."""
    if party.role == PartyRole.CLIENT:
        return {
            "name": f"My full name is {value}.",
            "aliases": f"I am also known as {value}.",
            "birth_date": f"I was born on {value}.",
            "country": f"I am from {value} and a citizen of {value}.",
            "language": f"My language is {value}.",
            "immigration_status": f"My immigration status is {value}.",
            "a_number": f"My A-number is {value}.",
        }[field]
    role = str(party.role)  # "abuser", "trafficker", "child" (an "other" party is only named)
    name = party.name.strip()
    if party.role == PartyRole.OTHER:
        who = name or "The other party"
    else:
        # Told by the client, whose the party is: "My child, Sofía, was born on ...", not a stranger's line.
        who = f"my {role}, {name}," if name else f"my {role}"
    sentence = {
        "name": f"My {role} is {value}." if party.role != PartyRole.OTHER else f"{value} is in the case.",
        "aliases": f"{who} is also known as {value}.",
        "birth_date": f"{who} was born on {value}.",
        "country": f"{who} is from {value}.",
        "language": f"The language of {who} is {value}.",
        "immigration_status": f"The immigration status of {who} is {value}.",
        "a_number": f"The A-number of {who} is {value}.",
    }[field]
    return sentence[0].upper() + sentence[1:]


def record_facts(case: Case) -> list[dict[str, Any]]:
    """Every recorded field of the case's parties as a fact, numbered R1.. (client first, then the others
    in the order they were added). `field` ("abuser.immigration_status") says which field it is; `need` is
    None here: a section's own facts (section_facts) say which of its needs each answers."""
    facts: list[dict[str, Any]] = []
    for party in _parties(case):
        values = _values(party)
        for field in FIELDS:
            if field not in values:
                continue
            facts.append(
                {
                    "id": f"R{len(facts) + 1}",
                    "n": 0,
                    "need": None,
                    "actor": _ACTOR.get(party.role, "other"),
                    "source": "record",
                    "field": f"{party.role}.{field}",
                    "narrative": field not in _NOT_NARRATIVE,
                    "text": _sentence(party, field, values[field]),
                    "chunk_id": None,
                    "document_id": None,
                    "document_name": DOCUMENT_NAME,
                    "page": None,
                }
            )
    return facts


def section_facts(facts: Iterable[dict[str, Any]], section: SectionSpec) -> list[dict[str, Any]]:
    """The record facts the section uses, each with the first of the section's needs it answers (None for
    one the section may use beyond its needs); never a fact that is not narrative."""
    needs: dict[str, str | None] = {}
    for field, need in section.record:
        needs.setdefault(field, need or None)
    return [{**f, "need": needs[f["field"]]} for f in facts if f["field"] in needs and f.get("narrative", True)]


def answered_needs(facts: Iterable[dict[str, Any]], section: SectionSpec) -> list[str]:
    """The section's needs its record facts answer, in the section's order (one field may answer two)."""
    fields = {f["field"] for f in facts if f.get("source") == "record" and f.get("narrative", True)}
    answered = {need for field, need in section.record if need and field in fields}
    return [need for need in section.needs if need in answered]


def record_text(case: Case) -> str:
    """Everything the case record holds about its parties, one line each, names with their aliases: what
    a draft's names, dates and numbers may be looked up in besides its cited passages."""
    lines = []
    for party in _parties(case):
        values = _values(party)
        parts = [f"{party.get_role_display()}: {values.get('name', '')}"]
        if "aliases" in values:
            parts[0] += f" (also known as {values['aliases']})"
        labels = {
            "birth_date": "Born",
            "country": "Country",
            "language": "Language",
            "immigration_status": "Immigration status",
            "a_number": "A-number",
        }
        parts += [f"{label}: {values[field]}" for field, label in labels.items() if field in values]
        lines.append(". ".join(parts) + ".")
    return "\n".join(lines)


def search_query(case: Case, section: SectionSpec) -> str:
    """What the section's passages are searched with: its heading and query words, and the names of the
    parties it is about (generation.declarations: `about`)."""
    names = [p.name.strip() for p in _parties(case) if p.role in section.about and p.name.strip()]
    return " ".join([section.heading, section.query, *names])


def still_to_ask(facts: Iterable[dict[str, Any]], section: SectionSpec) -> SectionSpec:
    """The section with only the needs its record facts leave unanswered: those the model is asked."""
    answered = set(answered_needs(facts, section))
    return replace(section, needs=tuple(need for need in section.needs if need not in answered))
