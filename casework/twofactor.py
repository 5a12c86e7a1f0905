"""The second factor: a code from an authenticator app after the password.

Staff users always need it: the Django admin changes who may read what, and which hosts see case text. With
AFFIANT_ATTORNEY_TOTP, so do the roles in AFFIANT_TOTP_ROLES (attorneys unless the firm adds paralegals, who
read and download everything too, or ops admins).

Devices are django-otp's TOTP devices. A user without a confirmed one sets one up on first sign-in; one with a
device enters its current code. Until then the session is signed in but not verified, and
SecondFactorMiddleware serves it nothing but the pages that finish signing in.
"""

from __future__ import annotations

from base64 import b32encode
from collections.abc import Callable
from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect
from django_otp.plugins.otp_totp.models import TOTPDevice

from casework.models import role_of

DEVICE_NAME = "Authenticator app"


def totp_required(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Staff whatever the settings say; the roles in AFFIANT_TOTP_ROLES when AFFIANT_ATTORNEY_TOTP is on."""
    if getattr(user, "is_staff", False):
        return True
    return settings.AFFIANT_ATTORNEY_TOTP and role_of(user) in settings.AFFIANT_TOTP_ROLES


def session_verified(request: HttpRequest) -> bool:
    """This session's sign-in was confirmed with a device (django-otp's OTPMiddleware keeps it)."""
    return getattr(request.user, "otp_device", None) is not None


def confirmed_device(user: AbstractBaseUser) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def pending_device(user: User) -> TOTPDevice:
    """The device being set up: its key is shown until a code from it confirms it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def readable_secret(device: TOTPDevice) -> str:
    """The key in base32, in groups of four, for typing into an app that cannot read the otpauth:// link."""
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def check_totp(*, request: HttpRequest, device: TOTPDevice, token: str) -> bool:
    """Verify a code from the signed-in user's device and, when it is right, mark the session verified.

    django-otp refuses a code already used, and waits longer after each wrong one (the device's throttle).
    """
    if device.user_id != request.user.pk or not device.verify_token(token.replace(" ", "")):
        return False
    django_otp.login(request, device)
    return True


def do_confirm_device(*, request: HttpRequest, device: TOTPDevice, token: str) -> bool:
    """Confirm a pending device with its first code; the session is then verified with it."""
    if not check_totp(request=request, device=device, token=token):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


def verification_throttled(device: TOTPDevice) -> bool:
    allowed, _ = device.verify_is_allowed()
    return not allowed


class SecondFactorMiddleware:
    """A user who needs the second factor (totp_required) and whose session is not verified is sent to enter a
    code, or to set up an app first; no other page, the admin's included, is served to that session."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            not user.is_authenticated
            or session_verified(request)
            or not totp_required(user)
            or _finishes_signing_in(request.path)
        ):
            return self.get_response(request)
        view = "casework:totp_verify" if confirmed_device(user) is not None else "casework:totp_enrol"
        target = f"{reverse(view)}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request") == "true":
            return HttpResponseClientRedirect(target)
        return redirect(target)


def _finishes_signing_in(path: str) -> bool:
    open_paths = {reverse(name) for name in ("casework:totp_verify", "casework:totp_enrol", "login", "logout")}
    return path in open_paths or path.startswith(f"/{settings.STATIC_URL.lstrip('/')}")
