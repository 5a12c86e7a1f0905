"""The case's PII vault: what it finds, how it numbers it, and what it leaves alone."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

import pytest

from casework.intake import PartyInput, do_add_party
from casework.models import Case, Party, PartyRole
from casework.pii import CaseVault, redactor_for_case
from llmops.redaction import load_redactor

JANE, JOHN, HAYES, MARIA = "<PERSON_1>", "<PERSON_2>", "<PERSON_3>", "<PERSON_4>"


@pytest.fixture
def case(firm_people: dict[str, Any]) -> Case:
    """The fixture's case (client Jane Doe, A123456789; abuser John Roe) with more people in it."""
    case: Case = firm_people["case"]
    Party.objects.filter(case=case, role=PartyRole.CLIENT).update(birth_date=date(1990, 4, 12))
    do_add_party(
        case=case,
        party=PartyInput(
            role=PartyRole.TRAFFICKER,
            name="Daniel Robert Hayes",
            aliases=("Danny",),
            a_number="12345678",
            birth_date=date(1985, 11, 3),
        ),
    )
    do_add_party(case=case, party=PartyInput(role=PartyRole.CHILD, name="María Martínez-Pérez"))
    return case


@pytest.fixture
def vault(case: Case) -> CaseVault:
    return CaseVault.for_case(case)


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# --- numbering --------------------------------------------------------------------------------


def test_each_party_gets_a_numbered_placeholder_in_the_order_it_was_added(vault: CaseVault) -> None:
    assert [(e.placeholder, e.value) for e in vault.entries] == [
        (JANE, "Jane Doe"),
        (JOHN, "John Roe"),
        (HAYES, "Daniel Robert Hayes"),
        (MARIA, "María Martínez-Pérez"),
        ("<A_NUMBER_1>", "A123456789"),
        ("<A_NUMBER_2>", "A12345678"),
        ("<DATE_OF_BIRTH_1>", "April 12, 1990"),
        ("<DATE_OF_BIRTH_2>", "November 3, 1985"),
    ]
    hayes = vault.entries[2]
    assert {"Daniel Robert Hayes", "Hayes, Daniel Robert", "Danny", "Hayes", "Daniel"} <= set(hayes.variants)


def test_placeholders_are_the_same_every_time_the_vault_is_built(case: Case, vault: CaseVault) -> None:
    text = "Jane Doe told Daniel Hayes her A-number A123456789."

    again = CaseVault.for_case(case)

    assert again.entries == vault.entries
    assert again.redact(text) == vault.redact(text) == f"{JANE} told {HAYES} her A-number <A_NUMBER_1>."
    assert redactor_for_case(case.pk).redact(text) == vault.redact(text)


def test_adding_a_party_leaves_the_others_placeholders_alone(case: Case, vault: CaseVault) -> None:
    do_add_party(case=case, party=PartyInput(role=PartyRole.CHILD, name="Emily Doe"))

    grown = CaseVault.for_case(case)

    def numbered(v: CaseVault) -> list[tuple[str, str]]:
        return [(e.placeholder, e.value) for e in v.entries if e.kind == "PERSON"]

    assert numbered(grown)[:4] == numbered(vault)
    assert grown.redact("Emily and Jane") == f"<PERSON_5> and {JANE}"


def test_the_runner_can_load_the_redactor_by_its_dotted_path(case: Case) -> None:
    redactor = load_redactor({"path": "casework.pii:redactor_for_case", "kwargs": {"case_id": case.pk}})

    assert redactor.redact("John Roe") == JOHN
    assert redactor.restore(JOHN) == "John Roe"


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "María Martínez-Pérez",
        "Maria Martinez Perez",
        "MARIA MARTINEZ-PEREZ",
        "maría martínez pérez",
        "Martínez-Pérez, María",
        "MARTINEZ PEREZ, Maria",
        # Accents typed as combining marks, as some PDFs extract them.
        "Mari\u0301a Marti\u0301nez-Pe\u0301rez",
    ],
)
def test_a_name_is_found_with_or_without_accents_hyphens_and_capitals(vault: CaseVault, written: str) -> None:
    assert vault.redact(f"Then {written} left.") == f"Then {MARIA} left."


@pytest.mark.parametrize("written", ["HAYES, Daniel Robert", "Hayes, Daniel", "Hayes Daniel", "D. Hayes"])
def test_a_name_is_found_last_name_first_and_with_an_initial(vault: CaseVault, written: str) -> None:
    assert vault.redact(f"Signed: {written}.") == f"Signed: {HAYES}."


def test_a_full_name_becomes_one_placeholder_not_one_per_part(vault: CaseVault) -> None:
    assert vault.redact("Daniel Robert Hayes hit me.") == f"{HAYES} hit me."
    assert vault.redact("Daniel Hayes hit me.") == f"{HAYES} hit me."


@pytest.mark.parametrize(("written", "expected"), [("Hayes's", "'s"), ("Hayes'", "'"), ("Hayes\u2019s", "\u2019s")])
def test_a_possessive_keeps_its_ending_outside_the_placeholder(vault: CaseVault, written: str, expected: str) -> None:
    assert vault.redact(f"It was {written} car.") == f"It was {HAYES}{expected} car."


def test_first_and_last_names_alone_and_aliases_are_the_same_person(vault: CaseVault) -> None:
    assert vault.redact("Daniel said Hayes would call Danny.") == f"{HAYES} said {HAYES} would call {HAYES}."
    assert vault.redact("Jane, Doe, Martínez and Pérez") == f"{JANE}, {JANE}, {MARIA} and {MARIA}"


def test_short_or_common_name_parts_are_left_alone_but_the_full_name_is_not(case: Case) -> None:
    do_add_party(case=case, party=PartyInput(role=PartyRole.OTHER, name="Will Li"))
    vault = CaseVault.for_case(case)

    assert vault.redact("I will tell Li that Will Li came.") == "I will tell Li that <PERSON_5> came."


def test_a_surname_two_parties_share_restores_to_itself(case: Case) -> None:
    do_add_party(case=case, party=PartyInput(role=PartyRole.CHILD, name="Emily Doe"))
    vault = CaseVault.for_case(case)

    redacted = vault.redact("Ms. Doe picked up Emily Doe.")

    assert redacted == "Ms. <PERSON_6> picked up <PERSON_5>."
    assert vault.restore(redacted) == "Ms. Doe picked up Emily Doe."


def test_words_that_merely_contain_a_name_are_left_alone(vault: CaseVault) -> None:
    text = "Janet Johnson does her roebuck drawings in Doering; she has a dog named Hayesville."

    assert vault.redact(text) == text


# --- A-numbers and dates of birth --------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    ["A123456789", "a123456789", "A# 123-456-789", "A#123456789", "A 123 456 789", "A-123456789", "A-123-456-789"],
)
def test_an_a_number_is_found_however_it_is_written(vault: CaseVault, written: str) -> None:
    assert vault.redact(f"File {written}, pending.") == "File <A_NUMBER_1>, pending."


@pytest.mark.parametrize("label", ["A-number:", "A-Number", "A#", "Alien Registration Number"])
def test_the_bare_digits_after_a_label_are_the_a_number(vault: CaseVault, label: str) -> None:
    redacted = vault.redact(f"{label} 123456789")

    assert "123456789" not in redacted
    assert redacted.endswith("<A_NUMBER_1>")


def test_an_eight_digit_a_number_is_found_with_and_without_its_leading_zero(vault: CaseVault) -> None:
    assert vault.redact("A12345678 and A012345678 and A# 012-345-678") == " and ".join(["<A_NUMBER_2>"] * 3)


def test_other_numbers_are_left_alone(vault: CaseVault) -> None:
    text = "A987654321, phone 1234567890, case 123456789012, receipt IOE0912345678, $1,234,567."

    assert vault.redact(text) == text


@pytest.mark.parametrize(
    "written",
    [
        "1990-04-12",
        "04/12/1990",
        "4/12/1990",
        "4/12/90",
        "April 12, 1990",
        "APRIL 12 1990",
        "Apr. 12th, 1990",
        "12 April 1990",
        "12-APR-1990",
        "12 de abril de 1990",
    ],
)
def test_a_birth_date_is_found_in_common_formats(vault: CaseVault, written: str) -> None:
    assert vault.redact(f"Born {written} in Oaxaca.") == "Born <DATE_OF_BIRTH_1> in Oaxaca."


def test_dates_of_events_are_left_alone(vault: CaseVault) -> None:
    text = "On April 12, 2015 and on 04/13/1990, in April 1990 and on 2016-03-03, he hit me; 1990 was hard."

    assert vault.redact(text) == text


# --- restoring ---------------------------------------------------------------------------------


def test_every_placeholder_restores_to_its_value(vault: CaseVault) -> None:
    for entry in vault.entries:
        assert vault.restore(f"[{entry.placeholder}]") == f"[{entry.value}]"


def test_restore_accepts_placeholders_as_a_model_may_rewrite_them(vault: CaseVault) -> None:
    restored = vault.restore("[PERSON_2] met person_1 and < PERSON_3 >.")

    assert restored == "John Roe met Jane Doe and Daniel Robert Hayes."


def test_restore_leaves_unknown_placeholders_and_other_text_alone(vault: CaseVault) -> None:
    text = "<PERSON_99> sent <EMAIL_1> on April 12, 2015 <b>bold</b>."

    assert vault.restore(text) == text


def test_redact_then_restore_gives_each_entity_its_full_value(vault: CaseVault) -> None:
    redacted = vault.redact("HAYES, Daniel hit Jane's son; A# 123-456-789; born 4/12/1990.")

    assert vault.restore(redacted) == "Daniel Robert Hayes hit Jane Doe's son; A123456789; born April 12, 1990."


def test_a_case_with_nothing_known_changes_no_text() -> None:
    assert CaseVault.from_parties([]).redact("Jane Doe") == "Jane Doe"


# --- the canary --------------------------------------------------------------------------------


def test_no_known_string_survives_redaction(case: Case, vault: CaseVault) -> None:
    paragraph = (
        "I, JANE DOE (A# 123-456-789; born April 12, 1990, also 1990-04-12), married John Roe in 2009. "
        "Roe's friend Daniel Robert Hayes, whom everyone calls Danny, said HAYES, DANIEL R. would come; "
        "Daniel's A-number is A012345678 and his birth date is 11/03/1985 (3 November 1985). "
        "My daughter Maria Martinez Perez (Martínez-Pérez, María) saw Hayes' truck. "
        "Jane's file lists A 123 456 789 and 04/12/1990; Doe, Jane signed, and so did John."
    )

    redacted = fold(vault.redact(paragraph))

    known: set[str] = set()
    for party in case.parties.all():
        for written in (party.name, *party.aliases):
            known.add(written)
            known.update(part for part in re.split(r"[\s\-,]+", written) if len(part) >= 3)
    left = [name for name in sorted(known) if re.search(rf"(?<!\w){re.escape(fold(name))}(?!\w)", redacted)]
    assert left == []
    digits = re.sub(r"\D", "", redacted)
    assert "23456789" not in digits and "12345678" not in digits
    for birth in ("1990", "1985", "april 12", "11/03", "3 november"):
        assert birth not in redacted


@pytest.mark.django_db
def test_the_vault_takes_in_what_screening_found_and_restores_it_exactly(firm_people: dict[str, Any]) -> None:
    import io

    from casework.indexing import screen_document
    from casework.models import Page
    from casework.pdfgen import text_pdf
    from casework.uploads import do_store_upload

    case = firm_people["case"]
    text = "Jane Doe lived at 4410 Westheimer Rd with John Roe. Her receipt is EAC2190012345; call 713-555-0182."
    document = do_store_upload(case=case, name="n.pdf", stream=io.BytesIO(text_pdf([text])), uploaded_by=None).document
    Page.objects.create(document=document, number=1, text=text)
    assert screen_document(document) >= 4
    vault = CaseVault.for_case(case)
    redacted = vault.redact(text)
    for secret in ("Jane Doe", "John Roe", "4410 Westheimer Rd", "EAC2190012345", "713-555-0182"):
        assert secret not in redacted, (secret, redacted)
    assert "<STREET_ADDRESS_1>" in redacted and "<RECEIPT_NUMBER_1>" in redacted
    assert vault.restore(redacted) == text
    # Built again, the same entity gets the same placeholder.
    assert CaseVault.for_case(case).redact(text) == redacted
