from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from casework.models import AuditEvent, Document, DocumentStatus
from casework.pdfgen import text_pdf
from casework.uploads import do_store_upload
from config.append_only import AppendOnlyError
from tests.append_only import append_only_triggers, refused, triggers_on
from tests.generation.test_versions import drafted_run

pytestmark = pytest.mark.django_db

TABLE = "casework_auditevent"


def _client(people: dict[str, Any], who: str) -> Client:
    client = Client()
    client.force_login(people[who])
    return client


def _document(people: dict[str, Any], status: str = DocumentStatus.INDEXED) -> Document:
    document = do_store_upload(
        case=people["case"], name="report.pdf", stream=io.BytesIO(text_pdf(["A police report."])), uploaded_by=None
    ).document
    Document.objects.filter(pk=document.pk).update(status=status)
    return document


def _event(people: dict[str, Any]) -> AuditEvent:
    case = people["case"]
    return AuditEvent.objects.create(
        actor=people["attorney"], action="view", case=case, object_type="case", object_id=str(case.pk), ip="10.0.0.1"
    )


# --- the database refuses -------------------------------------------------------------------------


def test_the_audit_table_has_its_append_only_triggers() -> None:
    assert triggers_on(TABLE) == append_only_triggers(TABLE)


def test_raw_sql_cannot_update_or_delete_an_audit_row(firm_people: dict[str, Any]) -> None:
    event = _event(firm_people)
    assert refused("UPDATE casework_auditevent SET action = %s WHERE id = %s", ["nothing", event.pk])
    assert refused("UPDATE casework_auditevent SET ip = NULL WHERE id = %s", [event.pk])
    assert refused("DELETE FROM casework_auditevent WHERE id = %s", [event.pk])
    assert refused("DELETE FROM casework_auditevent", [])
    assert AuditEvent.objects.filter(pk=event.pk, action="view", ip="10.0.0.1").exists()


def test_the_database_refuses_what_slips_past_the_orm_guard(firm_people: dict[str, Any]) -> None:
    """The plain QuerySet's update and delete, as any code that bypasses AuditEvent's own could."""
    event = _event(firm_people)
    rows = AuditEvent.objects.filter(pk=event.pk)
    attempts: list[Callable[[], object]] = [
        lambda: QuerySet.update(rows, action="nothing"),
        lambda: rows._raw_delete(connection.alias),
    ]
    for attempt in attempts:
        with pytest.raises(IntegrityError), transaction.atomic():
            attempt()
    assert AuditEvent.objects.filter(pk=event.pk, action="view").exists()


# --- the ORM refuses ------------------------------------------------------------------------------


def test_the_orm_refuses_to_update_or_delete_audit_rows(firm_people: dict[str, Any]) -> None:
    event = _event(firm_people)
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="nothing")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    event.action = "nothing"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "view"


def test_a_case_or_a_person_named_in_the_trail_cannot_be_deleted(firm_people: dict[str, Any]) -> None:
    _event(firm_people)
    with pytest.raises(ProtectedError), transaction.atomic():
        firm_people["case"].delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        firm_people["attorney"].delete()
    assert AuditEvent.objects.filter(case=firm_people["case"], actor=firm_people["attorney"]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_transactional_tests_flush_still_empties_the_audit_table(firm_people: dict[str, Any]) -> None:
    """The flush after this test (TRUNCATE on PostgreSQL, DELETE on SQLite) must pass the triggers."""
    _event(firm_people)
    assert AuditEvent.objects.count() == 1


# --- one row per action -----------------------------------------------------------------------------


def _new_rows(before: int) -> list[tuple[str, str, str | None]]:
    return list(AuditEvent.objects.filter(pk__gt=before).values_list("action", "object_type", "ip"))


def _last_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_each_view_download_upload_and_change_writes_exactly_one_row(firm_people: dict[str, Any]) -> None:
    case = firm_people["case"]
    document = _document(firm_people)
    rejected = _document_named(firm_people, "scan.pdf", DocumentStatus.REJECTED)
    attorney = _client(firm_people, "attorney")
    requests: list[tuple[str, str, dict[str, Any], tuple[str, str]]] = [
        ("get", reverse("casework:case_detail", args=[case.pk]), {}, ("view", "case")),
        ("post", reverse("casework:case_search", args=[case.pk]), {"q": "police"}, ("search", "case")),
        ("get", reverse("casework:document_detail", args=[case.pk, document.pk]), {}, ("view", "document")),
        ("get", reverse("casework:document_download", args=[case.pk, document.pk]), {}, ("download", "document")),
        ("post", reverse("casework:document_retry", args=[case.pk, rejected.pk]), {}, ("retry", "document")),
        ("post", reverse("casework:document_remove", args=[case.pk, rejected.pk]), {}, ("remove", "document")),
        ("get", reverse("casework:case_audit", args=[case.pk]), {}, ("view_audit", "case")),
    ]
    for method, url, data, (action, object_type) in requests:
        if action == "remove":
            Document.objects.filter(pk=rejected.pk).update(status=DocumentStatus.REJECTED)
        before = _last_id()
        response = getattr(attorney, method)(url, data)
        assert response.status_code in (200, 302), url
        assert _new_rows(before) == [(action, object_type, "127.0.0.1")], url
    before = _last_id()
    upload = io.BytesIO(text_pdf(["A letter from the shelter."]))
    upload.name = "letter.pdf"
    assert attorney.post(reverse("casework:document_upload", args=[case.pk]), {"file": upload}).status_code == 302
    assert _new_rows(before) == [("upload", "document", "127.0.0.1")]


def test_each_view_edit_approval_and_export_of_a_draft_writes_exactly_one_row(firm_people: dict[str, Any]) -> None:
    run = drafted_run(firm_people["case"])
    args = [run.case_id, run.pk]
    attorney = _client(firm_people, "attorney")
    requests: list[tuple[str, str, dict[str, Any], str]] = [
        ("get", reverse("generation:run_detail", args=args), {}, "view"),
        (
            "post",
            reverse("generation:run_edit", args=args),
            {"section_introduction": "I am Jane Doe.", "note": ""},
            "edit",
        ),
        ("post", reverse("generation:version_approve", args=[*args, 2]), {}, "approve"),
        ("get", reverse("generation:version_export", args=[*args, 2]), {}, "export"),
    ]
    for method, url, data, action in requests:
        before = _last_id()
        assert getattr(attorney, method)(url, data).status_code in (200, 302), url
        assert _new_rows(before) == [(action, "draftversion", "127.0.0.1")], url


def _document_named(people: dict[str, Any], name: str, status: str) -> Document:
    document = do_store_upload(
        case=people["case"], name=name, stream=io.BytesIO(text_pdf([f"The text of {name}."])), uploaded_by=None
    ).document
    Document.objects.filter(pk=document.pk).update(status=status)
    return document


def test_the_document_tables_htmx_poll_writes_no_row(firm_people: dict[str, Any]) -> None:
    _document(firm_people, status=DocumentStatus.PROCESSING)
    before = _last_id()
    url = reverse("casework:document_list", args=[firm_people["case"].pk])
    for _ in range(3):
        assert _client(firm_people, "paralegal").get(url, headers={"HX-Request": "true"}).status_code == 200
    assert _new_rows(before) == []


def test_a_refused_request_writes_no_row(firm_people: dict[str, Any]) -> None:
    document = _document(firm_people)
    before = _last_id()
    url = reverse("casework:document_detail", args=[firm_people["case"].pk, document.pk])
    assert _client(firm_people, "other_firm_attorney").get(url).status_code == 404
    assert _new_rows(before) == []


def test_a_viewed_document_is_recorded_with_the_actor_object_and_address(firm_people: dict[str, Any]) -> None:
    document = _document(firm_people)
    before = _last_id()
    url = reverse("casework:document_detail", args=[firm_people["case"].pk, document.pk])
    _client(firm_people, "paralegal").get(url, REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="203.0.113.7")
    event = AuditEvent.objects.get(pk__gt=before)
    assert (event.actor, event.action, event.case, event.object_type, event.object_id, event.ip) == (
        firm_people["paralegal"], "view", firm_people["case"], "document", str(document.pk), "192.0.2.10"
    )  # fmt: skip
    assert event.at.utcoffset() == timedelta(0) and abs(timezone.now() - event.at).total_seconds() < 60


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "recorded"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the left entry is the client's own claim
        (2, "198.51.100.1, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (2, "203.0.113.7", "192.0.2.10"),  # fewer hops than proxies: not through ours
        (1, "not-an-address", "192.0.2.10"),
        (1, "", "192.0.2.10"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_behind_a_proxy_the_forwarded_client_address_is_recorded(
    firm_people: dict[str, Any], settings: Any, proxies: int, forwarded_for: str, recorded: str
) -> None:
    settings.AFFIANT_BEHIND_PROXY = True
    settings.AFFIANT_PROXY_COUNT = proxies
    document = _document(firm_people)
    before = _last_id()
    url = reverse("casework:document_detail", args=[firm_people["case"].pk, document.pk])
    response = _client(firm_people, "attorney").get(url, REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert response.status_code == 200
    assert _new_rows(before) == [("view", "document", recorded)]


# --- the audit page ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("attorney", 200),
        ("paralegal", 404),
        ("unassigned_attorney", 404),
        ("unassigned_paralegal", 404),
        ("other_firm_attorney", 404),
        ("ops", 404),
    ],
)
def test_only_the_cases_attorneys_see_its_audit_trail(firm_people: dict[str, Any], who: str, status: int) -> None:
    url = reverse("casework:case_audit", args=[firm_people["case"].pk])
    before = _last_id()
    assert _client(firm_people, who).get(url).status_code == status
    assert len(_new_rows(before)) == (1 if status == 200 else 0)


def test_anonymous_visitors_are_sent_to_sign_in_for_the_audit_trail(firm_people: dict[str, Any]) -> None:
    response = Client().get(reverse("casework:case_audit", args=[firm_people["case"].pk]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_case_page_links_the_trail_for_attorneys_only(firm_people: dict[str, Any]) -> None:
    case = firm_people["case"]
    url, trail = reverse("casework:case_detail", args=[case.pk]), reverse("casework:case_audit", args=[case.pk])
    assert trail in _client(firm_people, "attorney").get(url).content.decode()
    assert trail not in _client(firm_people, "paralegal").get(url).content.decode()


def test_the_trail_is_paginated_newest_first_in_utc(firm_people: dict[str, Any], settings: Any) -> None:
    settings.TIME_ZONE = "America/New_York"
    case = firm_people["case"]
    AuditEvent.objects.bulk_create(
        AuditEvent(actor=firm_people["paralegal"], action="view", case=case, object_type="document",
                   object_id=str(n), ip="10.0.0.1")
        for n in range(60)
    )  # fmt: skip
    attorney = _client(firm_people, "attorney")
    url = reverse("casework:case_audit", args=[case.pk])
    first = attorney.get(url).content.decode()
    own = AuditEvent.objects.get(action="view_audit")
    rows = first.count("<tr data-action=")
    assert rows == 50 and "Page 1 of 2" in first
    # The visit itself comes first, with the time in UTC whatever the display time zone.
    assert first.index("view_audit") < first.index("document 59") < first.index("document 58")
    assert own.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") in first
    assert "attorney1" in first and "paralegal1" in first and "10.0.0.1" in first and "127.0.0.1" in first
    second = attorney.get(url, {"page": 2}).content.decode()
    assert second.count("<tr data-action=") == 62 - 50  # 60 + the two visits
    assert "document 0<" in second
