from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from casework.models import AuditEvent, Case
from casework.pii import redactor_for_case

pytestmark = pytest.mark.django_db


def _consenting(people: dict[str, Any]) -> Case:
    case: Case = people["case"]
    Case.objects.filter(pk=case.pk).update(consent_external=True)
    return case


def _withdraw_forms(html: str, url: str) -> list[str]:
    return [form for form in re.findall(r"<form\b.*?</form>", html, re.S) if f'action="{url}"' in form]


@pytest.mark.parametrize("who", ["attorney", "paralegal"])
def test_anyone_on_the_case_withdraws_consent_from_the_case_page_once_audited(
    firm_people: dict[str, Any], who: str
) -> None:
    case = _consenting(firm_people)
    url = reverse("casework:case_consent_withdraw", args=[case.pk])
    client = Client(enforce_csrf_checks=True)
    client.force_login(firm_people[who])
    [form] = _withdraw_forms(client.get(reverse("casework:case_detail", args=[case.pk])).content.decode(), url)
    assert 'method="post"' in form and "csrfmiddlewaretoken" in form

    withdrawals = AuditEvent.objects.filter(case=case, action="withdraw_consent")
    assert client.post(url).status_code == 403  # no CSRF token
    assert Case.objects.get(pk=case.pk).consent_external and not withdrawals.exists()
    token = {"csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    assert client.post(url, token).status_code == 302
    assert not Case.objects.get(pk=case.pk).consent_external
    assert list(withdrawals.values_list("actor", "object_type", "object_id")) == [
        (firm_people[who].pk, "case", str(case.pk))
    ]
    # What the runner asks just before it sends a call of this case to an external host.
    assert not redactor_for_case(case.pk).allows_external()

    assert client.post(url, token).status_code == 302  # nothing left to withdraw: nothing recorded
    assert withdrawals.count() == 1
    assert not _withdraw_forms(client.get(reverse("casework:case_detail", args=[case.pk])).content.decode(), url)


@pytest.mark.parametrize("who", ["unassigned_attorney", "unassigned_paralegal", "other_firm_attorney", "ops"])
def test_no_one_off_the_case_can_withdraw_its_consent(firm_people: dict[str, Any], who: str) -> None:
    case = _consenting(firm_people)
    client = Client()
    client.force_login(firm_people[who])
    assert client.post(reverse("casework:case_consent_withdraw", args=[case.pk])).status_code == 404
    assert Case.objects.get(pk=case.pk).consent_external
    assert not AuditEvent.objects.filter(action="withdraw_consent").exists()


def test_consent_is_only_withdrawn_by_a_post(firm_people: dict[str, Any]) -> None:
    case = _consenting(firm_people)
    client = Client()
    client.force_login(firm_people["attorney"])
    assert client.get(reverse("casework:case_consent_withdraw", args=[case.pk])).status_code == 405
    assert Case.objects.get(pk=case.pk).consent_external
