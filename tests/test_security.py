"""Signing in under attack: lockout after failed passwords, the client's address behind the proxy,
the second factor, how long a session lasts, the key that signs sessions, and the Content Security Policy on
every page."""

from __future__ import annotations

import re
import stat
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from casework.models import Role
from tests.settings_child import import_settings

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password-1"  # what tests/conftest.py's make_user sets
REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "templates"


def _sign_in(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def _fail_until_locked(client: Client, username: str, limit: int, **extra: Any) -> Any:
    for attempt in range(1, limit):
        response = _sign_in(client, username, "not-the-password", **extra)
        assert response.status_code == 200, attempt
    return _sign_in(client, username, "not-the-password", **extra)


def _end_cooloff(settings: Any) -> None:
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - timedelta(minutes=settings.AFFIANT_LOGIN_COOLOFF_MIN, seconds=1)
    )


# --- lockout -----------------------------------------------------------------------------------


def test_the_failure_limit_locks_the_username_out_and_the_right_password_waits_for_the_cooloff(
    firm_people: dict[str, Any], settings: Any
) -> None:
    client = Client()
    username = firm_people["paralegal"].username
    locked = _fail_until_locked(client, username, settings.AFFIANT_LOGIN_FAILURE_LIMIT)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert f"Wait {settings.AFFIANT_LOGIN_COOLOFF_MIN} minutes" in page
    assert "ask your firm's administrator" in page

    right = _sign_in(client, username, PASSWORD)
    assert right.status_code == 429
    assert client.get(reverse("casework:case_list")).status_code == 302  # still signed out

    _end_cooloff(settings)
    signed_in = _sign_in(client, username, PASSWORD)
    assert signed_in.status_code == 302
    assert signed_in["Location"] == reverse("casework:case_list")
    assert not AccessAttempt.objects.exists()  # a success clears the failures


def test_failures_below_the_limit_do_not_lock_out(firm_people: dict[str, Any], settings: Any) -> None:
    client = Client()
    for _ in range(settings.AFFIANT_LOGIN_FAILURE_LIMIT - 1):
        assert _sign_in(client, "paralegal1", "wrong").status_code == 200
    assert _sign_in(client, "paralegal1", PASSWORD).status_code == 302


def test_the_lockout_is_per_username_from_any_address(firm_people: dict[str, Any], settings: Any) -> None:
    limit = settings.AFFIANT_LOGIN_FAILURE_LIMIT
    assert _fail_until_locked(Client(), "paralegal1", limit, REMOTE_ADDR="192.0.2.10").status_code == 429
    assert _sign_in(Client(), "paralegal1", PASSWORD, REMOTE_ADDR="192.0.2.11").status_code == 429
    assert _sign_in(Client(), "attorney1", PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 302


def test_a_guesser_who_changes_address_at_each_try_is_locked_out_all_the_same(
    firm_people: dict[str, Any], settings: Any
) -> None:
    for n in range(1, settings.AFFIANT_LOGIN_FAILURE_LIMIT):
        assert _sign_in(Client(), "attorney1", "wrong", REMOTE_ADDR=f"198.51.100.{n}").status_code == 200
    assert _sign_in(Client(), "attorney1", "wrong", REMOTE_ADDR="198.51.100.99").status_code == 429
    assert _sign_in(Client(), "attorney1", PASSWORD, REMOTE_ADDR="203.0.113.50").status_code == 429


def test_changing_the_user_agent_does_not_escape_the_lockout(firm_people: dict[str, Any], settings: Any) -> None:
    for n in range(settings.AFFIANT_LOGIN_FAILURE_LIMIT):
        _sign_in(Client(), "paralegal1", "wrong", HTTP_USER_AGENT=f"bot/{n}")
    assert _sign_in(Client(), "paralegal1", PASSWORD, HTTP_USER_AGENT="browser").status_code == 429


def test_failed_attempts_keep_no_password_and_no_next_url(firm_people: dict[str, Any]) -> None:
    # A `next` can be a search of the case file: privileged text that must not land in the attempts table.
    next_url = f"/cases/{firm_people['case'].pk}/search/?q=when+did+he+take+her+passport"
    client = Client()
    client.post(
        f"{reverse('login')}?next={next_url}",
        {"username": "paralegal1", "password": "secret-wrong-guess", "next": next_url},
    )
    attempt = AccessAttempt.objects.get()
    stored = " ".join([attempt.get_data, attempt.post_data, attempt.path_info, attempt.http_accept])
    assert "passport" not in stored
    assert "secret-wrong-guess" not in stored
    assert attempt.username == "paralegal1"


# --- the client's address ------------------------------------------------------------------------


def test_x_forwarded_for_is_ignored_unless_behind_the_proxy(firm_people: dict[str, Any], settings: Any) -> None:
    settings.AFFIANT_BEHIND_PROXY = False
    limit = settings.AFFIANT_LOGIN_FAILURE_LIMIT
    for n in range(limit):
        _sign_in(Client(), "paralegal1", "wrong", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    # A new forwarded address does not escape: the lockout is on the peer's address.
    fresh = _sign_in(Client(), "paralegal1", PASSWORD, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert fresh.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.1"}


def test_behind_the_proxy_the_client_is_the_address_the_proxy_appended(
    firm_people: dict[str, Any], settings: Any
) -> None:
    settings.AFFIANT_BEHIND_PROXY = True
    settings.AFFIANT_PROXY_COUNT = 1
    limit = settings.AFFIANT_LOGIN_FAILURE_LIMIT
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(limit):
        # The left entries are the client's own claims, different every time: they change nothing.
        _sign_in(Client(), "paralegal1", "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7", **proxy)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    locked = _sign_in(Client(), "paralegal1", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    assert locked.status_code == 429


def test_behind_two_proxies_the_client_is_second_from_the_right(firm_people: dict[str, Any], settings: Any) -> None:
    settings.AFFIANT_BEHIND_PROXY = True
    settings.AFFIANT_PROXY_COUNT = 2
    _sign_in(
        Client(), "paralegal1", "wrong", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9, 10.0.0.2"
    )
    assert AccessAttempt.objects.get().ip_address == "203.0.113.9"


# --- the second factor ---------------------------------------------------------------------------------


def _code(device: TOTPDevice, drift: int = 0) -> str:
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift + drift)
    return f"{value:0{device.digits}d}"


def _wrong_code(device: TOTPDevice) -> str:
    valid = {_code(device, drift) for drift in (-1, 0, 1)}  # the device accepts one step either side
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def _lift_throttle(device: TOTPDevice) -> None:
    """What waiting out the throttle after a wrong code does, without the wait."""
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)


def _signed_in(username: str) -> Client:
    client = Client()
    assert _sign_in(client, username, PASSWORD).status_code == 302
    return client


def test_second_factor_is_off_by_default(firm_people: dict[str, Any], settings: Any) -> None:
    assert settings.AFFIANT_ATTORNEY_TOTP is False
    client = _signed_in("attorney1")
    assert client.get(reverse("casework:case_detail", args=[firm_people["case"].pk])).status_code == 200
    assert not TOTPDevice.objects.exists()


def test_an_attorney_without_an_app_sets_one_up_before_seeing_a_case(
    firm_people: dict[str, Any], settings: Any
) -> None:
    settings.AFFIANT_ATTORNEY_TOTP = True
    case_url = reverse("casework:case_detail", args=[firm_people["case"].pk])
    client = _signed_in("attorney1")

    blocked = client.get(case_url)
    assert blocked.status_code == 302
    assert blocked["Location"].startswith(reverse("casework:totp_enrol"))

    setup = client.get(blocked["Location"])
    assert setup.status_code == 200
    device = TOTPDevice.objects.get(user=firm_people["attorney"], confirmed=False)
    page = setup.content.decode()
    assert device.config_url.replace("&", "&amp;") in page  # the otpauth:// link
    assert setup.context["secret"].replace(" ", "") in device.config_url

    wrong = client.post(reverse("casework:totp_enrol"), {"token": _wrong_code(device), "next": case_url})
    assert wrong.status_code == 200
    assert "not right" in wrong.content.decode()
    assert client.get(case_url).status_code == 302

    _lift_throttle(device)
    right = client.post(reverse("casework:totp_enrol"), {"token": _code(device), "next": case_url})
    assert right.status_code == 302
    assert right["Location"] == case_url
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get(case_url).status_code == 200


def test_an_attorney_with_an_app_enters_its_code_after_the_password(firm_people: dict[str, Any], settings: Any) -> None:
    settings.AFFIANT_ATTORNEY_TOTP = True
    device = TOTPDevice.objects.create(user=firm_people["attorney"], name="phone", confirmed=True)
    case_url = reverse("casework:case_detail", args=[firm_people["case"].pk])
    client = _signed_in("attorney1")

    blocked = client.get(case_url)
    assert blocked.status_code == 302
    assert blocked["Location"].startswith(reverse("casework:totp_verify"))
    for url in (reverse("casework:case_list"), reverse("casework:document_list", args=[firm_people["case"].pk])):
        assert client.get(url).status_code == 302, url

    wrong = client.post(reverse("casework:totp_verify"), {"token": _wrong_code(device), "next": case_url})
    assert wrong.status_code == 200
    assert "not right" in wrong.content.decode()
    assert client.get(case_url).status_code == 302
    # Straight after a wrong code even the right one waits (django-otp's throttle doubles the wait each time).
    hasty = client.post(reverse("casework:totp_verify"), {"token": _code(device), "next": case_url})
    assert hasty.status_code == 200
    assert "Too many wrong codes" in hasty.content.decode()

    _lift_throttle(device)
    right = client.post(reverse("casework:totp_verify"), {"token": _code(device), "next": case_url})
    assert right.status_code == 302
    assert right["Location"] == case_url
    assert client.get(case_url).status_code == 200


def test_a_code_is_not_accepted_twice(firm_people: dict[str, Any], settings: Any) -> None:
    settings.AFFIANT_ATTORNEY_TOTP = True
    device = TOTPDevice.objects.create(user=firm_people["attorney"], name="phone", confirmed=True)
    code = _code(device)
    first = _signed_in("attorney1")
    assert first.post(reverse("casework:totp_verify"), {"token": code}).status_code == 302
    second = _signed_in("attorney1")
    assert second.post(reverse("casework:totp_verify"), {"token": code}).status_code == 200
    assert second.get(reverse("casework:case_list")).status_code == 302


def test_an_attorney_with_an_app_cannot_set_up_another_with_the_password_alone(
    firm_people: dict[str, Any], settings: Any
) -> None:
    settings.AFFIANT_ATTORNEY_TOTP = True
    TOTPDevice.objects.create(user=firm_people["attorney"], name="phone", confirmed=True)
    client = _signed_in("attorney1")
    response = client.get(reverse("casework:totp_enrol"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("casework:totp_verify"))
    assert TOTPDevice.objects.filter(user=firm_people["attorney"]).count() == 1


def test_paralegals_need_no_second_factor(firm_people: dict[str, Any], settings: Any) -> None:
    settings.AFFIANT_ATTORNEY_TOTP = True
    client = _signed_in("paralegal1")
    assert client.get(reverse("casework:case_detail", args=[firm_people["case"].pk])).status_code == 200


def test_the_roles_that_need_a_second_factor_are_a_setting(firm_people: dict[str, Any], settings: Any) -> None:
    settings.AFFIANT_ATTORNEY_TOTP = True
    settings.AFFIANT_TOTP_ROLES = ["attorney", "paralegal", "ops_admin"]
    for username, url in (
        ("paralegal1", reverse("casework:case_detail", args=[firm_people["case"].pk])),
        ("ops1", reverse("llmops:dashboard")),
    ):
        blocked = _signed_in(username).get(url)
        assert blocked.status_code == 302, username
        assert blocked["Location"].startswith(reverse("casework:totp_enrol")), username


def test_a_role_that_does_not_exist_in_the_second_factor_setting_stops_the_start(tmp_path: Path) -> None:
    refused = _import_settings(tmp_path, AFFIANT_TOTP_ROLES="attorney,clerk")
    assert refused.returncode != 0
    assert "AFFIANT_TOTP_ROLES must name roles among attorney, paralegal, ops_admin" in refused.stderr
    import config.settings

    assert set(config.settings._ROLES) == set(Role.values)  # the names settings checks against are the roles


def test_an_htmx_poll_of_an_unverified_attorney_is_sent_to_the_code_page_whole(
    firm_people: dict[str, Any], settings: Any
) -> None:
    settings.AFFIANT_ATTORNEY_TOTP = True
    TOTPDevice.objects.create(user=firm_people["attorney"], name="phone", confirmed=True)
    client = _signed_in("attorney1")
    response = client.get(reverse("casework:document_list", args=[firm_people["case"].pk]), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith(reverse("casework:totp_verify"))


# --- how long a session lasts ----------------------------------------------------------------------


def _backdate(client: Client, **seconds_ago: int) -> None:
    session = client.session
    for key, ago in seconds_ago.items():
        session[key] = int(time.time()) - ago
    session.save()


def test_a_busy_session_still_ends_at_the_absolute_limit(firm_people: dict[str, Any], settings: Any) -> None:
    client = _signed_in("attorney1")
    url = reverse("casework:case_detail", args=[firm_people["case"].pk])
    assert client.get(url).status_code == 200
    # Requests a moment ago (an htmx poll every 2 s), and the sign-in longer ago than the limit.
    _backdate(client, last_seen=2, signed_in_at=settings.SESSION_COOKIE_AGE + 5)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.get(url).status_code == 302  # signed out, not just bounced once


def test_a_poll_past_the_limit_sends_the_whole_page_to_sign_in(firm_people: dict[str, Any], settings: Any) -> None:
    client = _signed_in("attorney1")
    poll = reverse("casework:document_list", args=[firm_people["case"].pk])
    assert client.get(poll, HTTP_HX_REQUEST="true").status_code == 200
    _backdate(client, signed_in_at=settings.SESSION_COOKIE_AGE + 5)
    response = client.get(poll, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith(reverse("login"))


# --- the key that signs sessions -------------------------------------------------------------------


def _import_settings(var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Settings read afresh in a child, as a deployment without DJANGO_SECRET_KEY would; prints SECRET_KEY."""
    return import_settings(
        {"AFFIANT_VAR_DIR": str(var_dir), "DJANGO_DEBUG": "false", **env},
        without=("DJANGO_SECRET_KEY", "AFFIANT_REQUIRE_SECRET_KEY"),
        code="import config.settings as s; print(s.SECRET_KEY)",
    )


def _secret_key(var_dir: Path) -> str:
    imported = _import_settings(var_dir)
    assert imported.returncode == 0, imported.stderr
    return imported.stdout.strip()


def test_without_a_secret_key_each_installation_signs_with_its_own_generated_once(tmp_path: Path) -> None:
    key = _secret_key(tmp_path / "one")
    key_file = tmp_path / "one" / "secret.key"
    assert key_file.read_text().strip() == key and len(key) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _secret_key(tmp_path / "one") == key  # every process of the installation reads the same key
    assert _secret_key(tmp_path / "two") != key
    sources = [path.read_text() for path in (REPO / "config").glob("*.py")]
    assert not any(key in source for source in sources)


def test_production_refuses_to_start_without_a_secret_key_and_generates_none(tmp_path: Path) -> None:
    refused = _import_settings(
        tmp_path, AFFIANT_REQUIRE_SECRET_KEY="true", AFFIANT_FILE_KEYS=Fernet.generate_key().decode()
    )
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY must be set in production" in refused.stderr
    assert not (tmp_path / "secret.key").exists()


# --- Content Security Policy -------------------------------------------------------------------


def _policy(response: Any) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in (p.strip() for p in header.split(";")) if d}


def test_every_page_carries_a_strict_content_security_policy(firm_people: dict[str, Any]) -> None:
    client = Client()
    pages = [client.get(reverse("login"))]
    client.force_login(firm_people["attorney"])
    pages.append(client.get(reverse("casework:case_detail", args=[firm_people["case"].pk])))
    for response in pages:
        assert response.status_code == 200
        policy = _policy(response)
        assert policy["default-src"] == "'self'"
        assert policy["object-src"] == "'none'"
        assert policy["base-uri"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["form-action"] == "'self'"
        assert "unsafe" not in response["Content-Security-Policy"]
        assert "script-src" not in policy and "style-src" not in policy  # both fall back to 'self'


_INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE), "an inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.IGNORECASE), "an event-handler attribute"),
    (re.compile(r"\sstyle\s*=", re.IGNORECASE), "a style attribute"),
    (re.compile(r"<style", re.IGNORECASE), "a <style> element"),
    (re.compile(r"\shx-on", re.IGNORECASE), "an hx-on handler (eval)"),
    (re.compile(r"hx-trigger=\"[^\"]*\[", re.IGNORECASE), "an hx-trigger filter (eval)"),
    (re.compile(r"javascript:", re.IGNORECASE), "a javascript: URL"),
]


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_needs_inline_script_or_style(template: Path) -> None:
    text = template.read_text()
    for pattern, what in _INLINE:
        match = pattern.search(text)
        assert match is None, f"{what} would be blocked by the Content Security Policy: {match.group(0)!r}"
