from __future__ import annotations

import io
import re
from typing import Any

import pytest

from casework.chunking import CHUNK_CHARS, chunk_pages
from casework.ingest import ingest_document
from casework.models import Chunk
from casework.pdfgen import text_pdf
from casework.search import search_case, split_passages
from casework.uploads import do_store_upload
from casework.vectors import index_path

# A small case written for these tests: one topic per page, none of the questions' words on the page.
PAGES = [
    "MARRIAGE\nWe were wed on June 3, 2016 before a judge at the Harris County courthouse, and two weeks later "
    "our parish priest blessed the union at St. Anne's. My cousin Rosa and her husband stood as witnesses.",
    "POLICE REPORT\nOn February 9, 2019 at 23:40 officers answered a 911 call at the Willow Creek apartments. "
    "The complainant said her husband squeezed her throat with both hands until she could not breathe. "
    "Red marks were visible on both sides of her neck. He was taken into custody.",
    "DOCUMENTS\nIn May 2017 Daniel locked my Guatemalan passport and my national identity card in the glove "
    "box of his truck and kept the key on his belt, saying I would get them back when I learned to obey.",
    "HOSPITAL\nThe next morning I was examined in the emergency department at Ben Taub. The physician noted "
    "bruising and petechiae and a hoarse voice, and referred me to a social worker and to counseling.",
    "WORK\nSince 2020 I have worked as a seamstress at a tailoring shop on Bellaire Boulevard. I file my taxes "
    "every year and I volunteer on Saturdays at the church food pantry.",
]


@pytest.fixture
def indexed_case(firm_people: dict[str, Any]) -> Any:
    case = firm_people["case"]
    stored = do_store_upload(case=case, name="notes.pdf", stream=io.BytesIO(text_pdf(PAGES)), uploaded_by=None)
    ingest_document(stored.document.pk)
    return case


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("question", "page"),
    [
        ("When did he try to strangle her?", 2),
        ("Where did the couple get married?", 1),
        ("Who took away her identity papers?", 3),
        ("Did a doctor look at her injuries?", 4),
        ("Does she have a job and pay taxes?", 5),
    ],
)
def test_search_finds_the_right_passage_for_a_paraphrased_question(indexed_case: Any, question: str, page: int) -> None:
    best = search_case(indexed_case, question, k=3)[0]
    assert best.page_number <= page <= (best.page_end or best.page_number), (question, best)
    assert best.chunk_id is not None and 0 < best.score <= 1


@pytest.mark.django_db
def test_the_case_index_is_rebuilt_from_the_database_when_its_file_is_lost(indexed_case: Any) -> None:
    path = index_path(indexed_case.pk)
    assert path.exists()
    path.unlink()
    assert search_case(indexed_case, "who was a witness at the wedding", k=1)[0].page_number == 1
    assert path.exists()
    chunks = Chunk.objects.filter(case=indexed_case)
    assert chunks.count() >= 5 and not chunks.filter(embedding__isnull=True).exists()


@pytest.mark.django_db
def test_search_of_a_case_without_readable_pages_finds_nothing(firm_people: dict[str, Any]) -> None:
    assert search_case(firm_people["case"], "anything") == []


def test_headings_open_chunks_pages_are_remembered_and_long_text_overlaps() -> None:
    long_page = " ".join(f"Sentence {i} says something about the lease and the rent." for i in range(60))
    chunks = chunk_pages(
        [(1, "INTAKE NOTES\nShe came in on Monday."), (2, "POLICE REPORT\nAn officer came."), (3, long_page)]
    )
    assert chunks[0].text.startswith("INTAKE NOTES") and (chunks[0].page_start, chunks[0].page_end) == (1, 1)
    assert chunks[1].text.startswith("POLICE REPORT") and chunks[1].page_start == 2
    rest = chunks[2:]
    assert len(rest) >= 3 and all(len(c.text) <= CHUNK_CHARS * 1.4 for c in rest)
    assert all(c.page_start <= 3 <= c.page_end for c in rest)
    # Each chunk after the first of a run repeats the end of the one before.
    assert rest[1].text.split(". ")[0] in rest[0].text


def test_long_pages_are_split_at_sentences_into_bounded_passages() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    passages = split_passages(text, size=300)
    assert len(passages) > 5
    assert all(len(p) <= 600 for p in passages)
    assert "".join(passages).replace(" ", "") == text.replace(" ", "")


@pytest.mark.django_db
def test_the_search_page_shows_ranked_passages_with_the_match_marked_and_a_link_to_the_page(
    indexed_case: Any, firm_people: dict[str, Any]
) -> None:
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(firm_people["paralegal"])
    page = client.post(reverse("casework:case_search", args=[indexed_case.pk]), {"q": "squeezed her throat <b>"})
    html = page.content.decode()
    first = html.index('class="card search-result"')
    assert 'data-page="2"' in html[first : first + 200]
    assert "<mark>squeezed</mark>" in html and "<mark>throat</mark>" in html
    assert "&lt;b&gt;" in html and "<b>" not in html.split("<main>")[1]  # the question is escaped
    assert f"/documents/{indexed_case.documents.get().pk}/#page-2" in html


def _search_forms(html: str) -> list[str]:
    return [form for form in re.findall(r"<form\b.*?</form>", html, re.S) if 'name="q"' in form]


@pytest.mark.django_db
def test_the_question_is_posted_with_the_csrf_token_and_never_put_in_a_url(
    indexed_case: Any, firm_people: dict[str, Any]
) -> None:
    from django.test import Client
    from django.urls import reverse

    from casework.models import AuditEvent

    url = reverse("casework:case_search", args=[indexed_case.pk])
    question = {"q": "squeezed her throat"}
    client = Client(enforce_csrf_checks=True)
    client.force_login(firm_people["paralegal"])
    pages = [client.get(reverse("casework:case_detail", args=[indexed_case.pk])), client.get(url)]
    for page in pages:
        forms = _search_forms(page.content.decode())
        assert forms and all('method="post"' in f and "csrfmiddlewaretoken" in f for f in forms)

    searches = AuditEvent.objects.filter(case=indexed_case, action="search")
    assert 'class="card search-result"' not in client.get(url, question).content.decode()  # ?q= is not read
    assert client.post(url, question).status_code == 403  # no CSRF token
    assert not searches.exists()
    found = client.post(url, {**question, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert 'class="card search-result"' in found.content.decode()
    assert searches.count() == 1

    signed_out = Client().post(url, question)
    assert signed_out.status_code == 302
    assert signed_out["Location"].startswith(reverse("login")) and "throat" not in signed_out["Location"]


@pytest.mark.django_db
def test_removing_a_document_takes_its_passages_out_of_the_index(
    indexed_case: Any, firm_people: dict[str, Any]
) -> None:
    from pathlib import Path

    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    from casework.models import Document

    document = indexed_case.documents.get()
    assert document.pages_done == document.page_count == 5  # progress reached the end
    other = do_store_upload(
        case=indexed_case,
        name="other.pdf",
        stream=io.BytesIO(text_pdf(["The weather was mild in April."])),
        uploaded_by=None,
    ).document
    ingest_document(other.pk)
    url = reverse("casework:document_remove", args=[indexed_case.pk, document.pk])
    paralegal = Client()
    paralegal.force_login(firm_people["paralegal"])
    assert paralegal.post(url).status_code == 404
    attorney = Client()
    attorney.force_login(firm_people["attorney"])
    assert attorney.post(url).status_code == 302
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not (Path(settings.AFFIANT_STORAGE_DIR) / document.stored_name).exists()
    results = search_case(indexed_case, "squeezed her throat", k=5)
    assert results and all(r.document_id == other.pk for r in results)


@pytest.mark.django_db
def test_a_stale_index_naming_another_cases_passages_shows_none_of_them(
    indexed_case: Any, firm_people: dict[str, Any]
) -> None:
    import shutil

    from casework.vectors import search_vectors
    from tests.conftest import make_case

    other_case = make_case(firm_people["firm"], [firm_people["attorney"]], title="Roe - T visa")
    other = do_store_upload(case=other_case, name="notes.pdf", stream=io.BytesIO(text_pdf(PAGES)), uploaded_by=None)
    ingest_document(other.document.pk)
    question = "When did he try to strangle her?"
    # The other case's file where this case's should be (a restore gone wrong), holding as many chunks as this
    # case has, so nothing tells it apart but the ids it returns.
    assert Chunk.objects.filter(case=other_case).count() == Chunk.objects.filter(case=indexed_case).count()
    shutil.copyfile(index_path(other_case.pk), index_path(indexed_case.pk))
    hits = search_vectors(indexed_case, question, 5)
    assert Chunk.objects.filter(pk__in=[h.chunk_id for h in hits], case=other_case).exists()

    passages = search_case(indexed_case, question, k=5)
    assert not Chunk.objects.filter(pk__in=[p.chunk_id for p in passages]).exclude(case=indexed_case).exists()
    assert {p.document_id for p in passages} <= set(indexed_case.documents.values_list("pk", flat=True))
