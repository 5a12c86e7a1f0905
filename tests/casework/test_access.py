from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from casework.models import AuditEvent, Case
from casework.pdfgen import text_pdf
from casework.uploads import do_store_upload
from generation.models import DeclarationRun

pytestmark = pytest.mark.django_db


def _case_urls(people: dict[str, Any]) -> list[str]:
    case = people["case"]
    document = do_store_upload(
        case=case, name="report.pdf", stream=io.BytesIO(text_pdf(["A police report."])), uploaded_by=None
    ).document
    run = DeclarationRun.objects.create(case=case, template="vawa", template_version=1)
    return [
        reverse("casework:case_detail", args=[case.pk]),
        reverse("casework:document_list", args=[case.pk]),
        reverse("casework:case_search", args=[case.pk]),
        reverse("casework:document_detail", args=[case.pk, document.pk]),
        reverse("casework:document_download", args=[case.pk, document.pk]),
        reverse("generation:run_detail", args=[case.pk, run.pk]),
        reverse("generation:run_edit", args=[case.pk, run.pk]),
    ]


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("who", ["other_firm_attorney", "unassigned_paralegal", "unassigned_attorney", "ops"])
def test_people_outside_the_case_get_404_on_the_case_and_its_files(firm_people: dict[str, Any], who: str) -> None:
    client = _client_for(firm_people[who])
    for url in _case_urls(firm_people):
        assert client.get(url).status_code == 404, url


def test_assigned_people_see_the_case_and_its_files(firm_people: dict[str, Any]) -> None:
    urls = _case_urls(firm_people)
    for who in ("attorney", "paralegal"):
        client = _client_for(firm_people[who])
        for url in urls[:6]:  # all but the edit page, which is the attorney's alone
            assert client.get(url).status_code == 200, (who, url)


def test_posting_to_an_unseen_case_is_404_and_stores_nothing(firm_people: dict[str, Any]) -> None:
    case = firm_people["case"]
    client = _client_for(firm_people["other_firm_attorney"])
    response = client.post(
        reverse("casework:document_upload", args=[case.pk]),
        {"file": io.BytesIO(text_pdf(["x"]))},
    )
    assert response.status_code == 404
    assert client.post(reverse("generation:run_start", args=[case.pk])).status_code == 404
    document = do_store_upload(
        case=case, name="r.pdf", stream=io.BytesIO(text_pdf(["A report."])), uploaded_by=None
    ).document
    for name in ("document_remove", "document_retry"):
        assert client.post(reverse(f"casework:{name}", args=[case.pk, document.pk])).status_code == 404
    assert case.documents.count() == 1
    assert case.runs.count() == 0


def test_anonymous_visitors_are_sent_to_the_login_page(firm_people: dict[str, Any]) -> None:
    response = Client().get(reverse("casework:case_detail", args=[firm_people["case"].pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_visible_to_scopes_cases_by_firm_and_assignment(firm_people: dict[str, Any]) -> None:
    case = firm_people["case"]
    assert list(Case.objects.visible_to(firm_people["attorney"])) == [case]
    for who in ("unassigned_attorney", "other_firm_attorney", "ops"):
        assert not Case.objects.visible_to(firm_people[who]).exists()


def test_viewing_and_downloading_are_audited_without_case_text(firm_people: dict[str, Any]) -> None:
    urls = _case_urls(firm_people)
    client = _client_for(firm_people["attorney"])
    client.get(urls[0])
    client.get(urls[4])
    actions = list(AuditEvent.objects.filter(actor=firm_people["attorney"]).values_list("action", flat=True))
    assert sorted(actions) == ["download", "view"]


def test_ops_admins_see_the_ops_page_and_caseworkers_do_not(firm_people: dict[str, Any]) -> None:
    url = reverse("llmops:dashboard")
    assert _client_for(firm_people["ops"]).get(url).status_code == 200
    for who in ("attorney", "paralegal"):
        assert _client_for(firm_people[who]).get(url).status_code == 404


def test_pages_for_signed_in_users_are_never_cached(firm_people: dict[str, Any]) -> None:
    response = _client_for(firm_people["attorney"]).get(reverse("casework:case_detail", args=[firm_people["case"].pk]))
    assert response["Cache-Control"] == "no-store"


def test_an_idle_session_is_signed_out(firm_people: dict[str, Any], settings: Any) -> None:
    import time

    client = _client_for(firm_people["attorney"])
    url = reverse("casework:case_detail", args=[firm_people["case"].pk])
    assert client.get(url).status_code == 200
    session = client.session
    session["last_seen"] = int(time.time()) - settings.AFFIANT_SESSION_IDLE_S - 5
    session.save()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.get(url).status_code == 302  # signed out, not just bounced once


def test_signing_in_gives_a_new_session_key(firm_people: dict[str, Any]) -> None:
    """A session key planted before sign-in (session fixation) is worth nothing after it."""
    from django.test import Client

    client = Client()
    client.get(reverse("login"))  # an anonymous session, as an attacker could plant
    session = client.session
    session["planted"] = True
    session.save()
    before = str(session.session_key)
    response = client.post(
        reverse("login"), {"username": firm_people["attorney"].username, "password": "a-long-test-password-1"}
    )
    assert response.status_code == 302
    after = client.cookies[settings_session_cookie()].value
    assert after and after != before
    planted = Client()
    planted.cookies[settings_session_cookie()] = before
    url = reverse("casework:case_detail", args=[firm_people["case"].pk])
    assert planted.get(url).status_code == 302  # the old key is not signed in


def settings_session_cookie() -> str:
    from django.conf import settings

    return str(settings.SESSION_COOKIE_NAME)
