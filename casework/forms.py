from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings

from casework.intake import CaseInput, PartyInput, split_aliases
from casework.models import CaseType, PartyRole
from casework.upload_limit import too_large_message

# A-numbers are A followed by 8 or 9 digits, written many ways: A123456789, A# 123-456-789, A 123 456 789.
_A_NUMBER = re.compile(r"^A\s*#?\s*[-\s]?(\d[\d\s-]{6,12}\d)$", re.IGNORECASE)


def normalize_a_number(raw: str) -> str:
    raw = raw.strip()
    if not raw:
        return ""
    match = _A_NUMBER.match(raw)
    digits = re.sub(r"\D", "", match.group(1)) if match else ""
    if not match or len(digits) not in (8, 9):
        raise forms.ValidationError("An A-number is the letter A followed by 8 or 9 digits.")
    return f"A{digits.zfill(9)}"


class CaseForm(forms.Form):
    title = forms.CharField(max_length=200, help_text="For example: Doe - VAWA self-petition")
    case_type = forms.ChoiceField(choices=CaseType.choices)
    consent_external = forms.BooleanField(
        required=False, label="Client consents to redacted text being sent to external models"
    )
    client_name = forms.CharField(max_length=200, label="Client's full name")
    client_aliases = forms.CharField(max_length=500, required=False, help_text="Comma-separated")
    client_birth_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    client_a_number = forms.CharField(max_length=30, required=False, label="Client's A-number")
    client_country = forms.CharField(max_length=100, required=False, label="Country of nationality")
    client_language = forms.CharField(max_length=100, required=False, label="Preferred language")

    def clean_client_a_number(self) -> str:
        return normalize_a_number(self.cleaned_data["client_a_number"])

    def to_input(self, parties: list[PartyInput]) -> CaseInput:
        data = self.cleaned_data
        return CaseInput(
            title=data["title"],
            case_type=data["case_type"],
            consent_external=data["consent_external"],
            client=PartyInput(
                role=PartyRole.CLIENT,
                name=data["client_name"],
                aliases=split_aliases(data["client_aliases"]),
                birth_date=data["client_birth_date"],
                a_number=data["client_a_number"],
                country=data["client_country"],
                language=data["client_language"],
            ),
            parties=tuple(parties),
        )


class PartyForm(forms.Form):
    role = forms.ChoiceField(choices=[c for c in PartyRole.choices if c[0] != PartyRole.CLIENT])
    name = forms.CharField(max_length=200, required=False)
    aliases = forms.CharField(max_length=500, required=False, help_text="Comma-separated")
    birth_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    a_number = forms.CharField(max_length=30, required=False, label="A-number")
    immigration_status = forms.CharField(max_length=100, required=False, label="Status")

    def clean_a_number(self) -> str:
        return normalize_a_number(self.cleaned_data["a_number"])

    def to_input(self) -> PartyInput | None:
        data = self.cleaned_data
        if not data.get("name"):
            return None
        return PartyInput(
            role=data["role"],
            name=data["name"],
            aliases=split_aliases(data.get("aliases", "")),
            birth_date=data.get("birth_date"),
            a_number=data.get("a_number", ""),
            immigration_status=data.get("immigration_status", ""),
        )


PartyFormSet = forms.formset_factory(PartyForm, extra=3, max_num=10)


class UploadForm(forms.Form):
    file = forms.FileField(label="PDF file")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > settings.AFFIANT_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(too_large_message())
        return upload


class TotpTokenForm(forms.Form):
    token = forms.CharField(
        label="Code from your authenticator app",
        max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def clean_token(self) -> str:
        token = re.sub(r"\s", "", self.cleaned_data["token"])
        if not token.isdigit():
            raise forms.ValidationError("The code is the digits your app shows.")
        return token
