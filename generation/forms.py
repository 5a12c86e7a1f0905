from __future__ import annotations

from typing import Any

from django import forms

from generation.models import DraftVersion


class DraftEditForm(forms.Form):
    """One textarea per section of the version being edited."""

    note = forms.CharField(max_length=200, required=False, label="What changed (optional)")

    def __init__(self, *args: Any, version: DraftVersion, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section_keys: list[str] = []
        for section in version.sections.all():
            name = f"section_{section.key}"
            self.fields[name] = forms.CharField(
                label=section.heading,
                required=False,
                initial=section.text,
                widget=forms.Textarea(attrs={"rows": 8}),
            )
            self.section_keys.append(section.key)

    def texts(self) -> dict[str, str]:
        return {key: self.cleaned_data[f"section_{key}"] for key in self.section_keys}


class SectionEditForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=20000)
    note = forms.CharField(max_length=200, required=False, label="What changed (optional)")


class CommentForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, label="Comment")
    section_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=50)


class AcceptSentenceForm(forms.Form):
    """Accepting a flagged sentence as it stands takes the attorney's reason, kept on its flags."""

    reason = forms.CharField(max_length=500, label="Why the sentence may stand")
