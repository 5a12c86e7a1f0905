"""Creating cases and their parties."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth.models import User
from django.db import transaction

from casework.models import Case, CaseType, Firm, Party, PartyRole


@dataclass(frozen=True)
class PartyInput:
    role: str
    name: str
    aliases: tuple[str, ...] = ()
    birth_date: date | None = None
    a_number: str = ""
    country: str = ""
    language: str = ""
    immigration_status: str = ""


@dataclass(frozen=True)
class CaseInput:
    title: str
    case_type: str
    client: PartyInput
    parties: tuple[PartyInput, ...] = field(default_factory=tuple)
    consent_external: bool = False


def split_aliases(raw: str) -> tuple[str, ...]:
    return tuple(alias.strip() for alias in raw.replace(";", ",").split(",") if alias.strip())


@transaction.atomic
def do_create_case(*, firm: Firm, data: CaseInput, created_by: User | None, assignees: Iterable[User]) -> Case:
    """Create a case with its client and other parties. Assumes validated input."""
    if data.case_type not in CaseType.values:
        raise ValueError(f"unknown case type {data.case_type!r}")
    case = Case.objects.create(
        firm=firm,
        title=data.title,
        case_type=data.case_type,
        consent_external=data.consent_external,
        created_by=created_by,
    )
    case.assignees.set(list(assignees))
    client = PartyInput(**{**data.client.__dict__, "role": PartyRole.CLIENT})
    for party in (client, *data.parties):
        do_add_party(case=case, party=party)
    return case


def do_add_party(*, case: Case, party: PartyInput) -> Party:
    if party.role not in PartyRole.values:
        raise ValueError(f"unknown party role {party.role!r}")
    return Party.objects.create(
        case=case,
        role=party.role,
        name=party.name,
        aliases=list(party.aliases),
        birth_date=party.birth_date,
        a_number=party.a_number,
        country=party.country,
        language=party.language,
        immigration_status=party.immigration_status,
    )
