"""Reading a case described as JSON (for `manage.py ingest`), with errors that say which key is wrong.

    {"title": "Doe - VAWA self-petition", "type": "vawa",
     "client": {"name": "...", "aliases": ["..."], "birth_date": "YYYY-MM-DD", "a_number": "A123456789",
                "country": "...", "language": "Spanish"},
     "parties": [{"role": "abuser", "name": "...", "aliases": [], "birth_date": "YYYY-MM-DD",
                  "status": "U.S. citizen"}],
     "consent_external": false, "firm": "optional firm name"}

Only `title`, `type` and `client.name` are required. `type` is `vawa` (a spouse's self-petition),
`vawa_child`, `vawa_parent` or `t_visa`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from casework.forms import normalize_a_number
from casework.intake import CaseInput, PartyInput
from casework.models import CaseType, PartyRole

_TYPES = {"vawa": CaseType.VAWA_SPOUSE, **{t.value: t.value for t in CaseType}}
_ROLES = {PartyRole.ABUSER, PartyRole.TRAFFICKER, PartyRole.CHILD, PartyRole.OTHER}


class CaseJsonError(ValueError):
    pass


def _text(data: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CaseJsonError(f"{where}.{key} must be text")
    if required and not value.strip():
        raise CaseJsonError(f"{where}.{key} is required")
    return value.strip()


def _date(data: dict[str, Any], key: str, where: str) -> date | None:
    raw = _text(data, key, where)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise CaseJsonError(f"{where}.{key} must be a date as YYYY-MM-DD, got {raw!r}") from exc


def _aliases(data: dict[str, Any], where: str) -> tuple[str, ...]:
    aliases = data.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise CaseJsonError(f"{where}.aliases must be a list of names")
    return tuple(a.strip() for a in aliases if a.strip())


def _a_number(data: dict[str, Any], where: str) -> str:
    try:
        return normalize_a_number(_text(data, "a_number", where))
    except forms.ValidationError as exc:
        raise CaseJsonError(f"{where}.a_number: {exc.messages[0]}") from exc


def _party(data: Any, where: str, role: str) -> PartyInput:
    if not isinstance(data, dict):
        raise CaseJsonError(f"{where} must be an object")
    return PartyInput(
        role=role,
        name=_text(data, "name", where, required=True),
        aliases=_aliases(data, where),
        birth_date=_date(data, "birth_date", where),
        a_number=_a_number(data, where),
        country=_text(data, "country", where),
        language=_text(data, "language", where),
        immigration_status=_text(data, "status", where),
    )


def parse_case_json(data: Any) -> tuple[CaseInput, str]:
    """The case described, and the firm named (empty when none is)."""
    if not isinstance(data, dict):
        raise CaseJsonError("the case must be a JSON object")
    case_type = _text(data, "type", "case", required=True)
    if case_type not in _TYPES:
        raise CaseJsonError(f"case.type must be one of {', '.join(sorted(_TYPES))}, got {case_type!r}")
    parties = data.get("parties") or []
    if not isinstance(parties, list):
        raise CaseJsonError("case.parties must be a list")
    party_inputs = []
    for i, party in enumerate(parties):
        where = f"parties[{i}]"
        role = _text(party, "role", where, required=True) if isinstance(party, dict) else ""
        if role not in _ROLES:
            raise CaseJsonError(f"{where}.role must be one of {', '.join(sorted(_ROLES))}, got {role!r}")
        party_inputs.append(_party(party, where, role))
    consent = data.get("consent_external", False)
    if not isinstance(consent, bool):
        raise CaseJsonError("case.consent_external must be true or false")
    case = CaseInput(
        title=_text(data, "title", "case", required=True),
        case_type=_TYPES[case_type],
        client=_party(data.get("client"), "client", PartyRole.CLIENT),
        parties=tuple(party_inputs),
        consent_external=consent,
    )
    return case, _text(data, "firm", "case")
