from __future__ import annotations

import io
from typing import Any

import pytest

from casework.ingest import ingest_document
from casework.pdfgen import text_pdf
from casework.search import search_case, split_passages
from casework.uploads import do_store_upload

pytestmark = pytest.mark.django_db


def test_search_ranks_the_passage_that_answers_the_question_first(firm_people: dict[str, Any]) -> None:
    case = firm_people["case"]
    pages = [
        "We married on June 3, 2016 at the courthouse. We opened a joint account.",
        "On February 9, 2019 he choked me. I called 911 and the police arrested him.",
    ]
    document = do_store_upload(case=case, name="notes.pdf", stream=io.BytesIO(text_pdf(pages)), uploaded_by=None)
    ingest_document(document.document.pk)
    results = search_case(case, "police 911 arrested choked", k=2)
    assert results[0].page_number == 2 and results[0].score > results[1].score
    assert search_case(case, "wedding married courthouse", k=1)[0].page_number == 1


def test_search_of_a_case_without_readable_pages_finds_nothing(firm_people: dict[str, Any]) -> None:
    assert search_case(firm_people["case"], "anything") == []


def test_long_pages_are_split_at_sentences_into_bounded_passages() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    passages = split_passages(text, size=300)
    assert len(passages) > 5
    assert all(len(p) <= 600 for p in passages)
    assert "".join(passages).replace(" ", "") == text.replace(" ", "")
