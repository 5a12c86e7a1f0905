"""Privileged pages are never kept by a browser or a proxy cache, and sessions end when idle or old."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect

from casework.upload_limit import body_certainly_too_large, too_large_message


class PrivateNoStoreMiddleware:
    """Every response to a signed-in user says `no-store`: case text must not linger in caches."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            response["Cache-Control"] = "no-store"
        return response


class SessionTimeoutMiddleware:
    """Sign out a session idle for AFFIANT_SESSION_IDLE_S, or signed in longer ago than AFFIANT_SESSION_MAX_S.

    Writing `last_seen` saves the session at every request, which moves its expiry (SESSION_COOKIE_AGE, the same
    number) on: an htmx poll every 2 s would keep it for ever. So the first request after signing in writes
    `signed_in_at`, never changed after, and the absolute limit counts from it whatever the session does.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            signed_in = int(request.session.setdefault("signed_in_at", now))
            last = int(request.session.get("last_seen", now))
            if now - last > settings.AFFIANT_SESSION_IDLE_S or now - signed_in > settings.SESSION_COOKIE_AGE:
                logout(request)
                return _sign_in_again(request)
            request.session["last_seen"] = now
        return self.get_response(request)


def _sign_in_again(request: HttpRequest) -> HttpResponse:
    """To the sign-in page; an htmx request (a poll) sends its whole page there, not the form into a fragment."""
    response = redirect_to_login(request.get_full_path())
    if request.headers.get("HX-Request") == "true":
        return HttpResponseClientRedirect(response["Location"])
    return response


class RequestBodyLimitMiddleware:
    """Answer 413, without reading a byte of it, a request whose body is longer than any upload may be.

    It runs before any view, the CSRF check included, reads the body; a file that turns out too large
    once the body is being read is stopped by casework.upload_limit.CappedUploadHandler.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if body_certainly_too_large(request):
            return render(
                request, "casework/upload_too_large.html", {"message": too_large_message(), "case": None}, status=413
            )
        return self.get_response(request)
