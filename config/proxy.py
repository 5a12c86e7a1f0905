"""Where a request came from, directly or through the reverse proxies in front of Affiant.

The one place that computes a client's address: the audit trail (`casework.audit`), the ops actions
(`llmops`) and the login lockout all read it from here, so they always agree about who asked.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address, or None when the request does not say.

    Behind proxies (AFFIANT_BEHIND_PROXY), each of the AFFIANT_PROXY_COUNT proxies appends the address it
    received the request from to X-Forwarded-For, so the client is that many entries from the right;
    anything further left was written by the client and is not trusted. A header with fewer entries, or
    an entry that is not an address, did not come through our proxies: the peer's address is used instead.
    """
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    if not settings.AFFIANT_BEHIND_PROXY:
        return peer
    count = settings.AFFIANT_PROXY_COUNT
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < count:
        return peer
    return _address(hops[-count]) or peer


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None
