"""Which hosts are outside the firm: the one fact that decides whether a call's text is redacted and needs consent.

A host is outside unless its address shows it is inside (loopback or a private network), so a host someone
forgot to mark is treated as the riskier kind. The catalog may say otherwise only for a host the firm runs itself
(a managed llama.cpp or an Ollama host named on its own network), and only with a reason written beside it.
Hosted APIs (Bedrock, OpenRouter) are outside whatever the catalog or the admin says: a slip in either must not
send unredacted text to them.

No ORM queries here: the providers use these too.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from llmops.models import Host

# The host kinds the firm runs on its own machines; only these may be declared inside at a public-looking name.
SELF_RUN_KINDS = frozenset({"llamacpp", "ollama"})


def _hostname(url: str) -> str:
    # Without `//`, urlsplit reads "127.0.0.1:8080" as a scheme and a path: no host at all.
    return urlsplit(url if "//" in url else f"//{url}").hostname or ""


def on_this_network(url: str) -> bool:
    """Whether the URL names a loopback or private address (a name other than `localhost` is not resolved:
    what a name resolves to can change under the firm's feet)."""
    hostname = _hostname(url)
    if hostname == "localhost":
        return True
    try:
        address = ip_address(hostname)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def is_openrouter_url(url: str) -> bool:
    hostname = _hostname(url)
    return hostname == "openrouter.ai" or hostname.endswith(".openrouter.ai")


def always_external(kind: str, url: str) -> bool:
    """Hosted APIs: outside the firm whatever a host row says."""
    return kind == "bedrock" or is_openrouter_url(url)


def is_external(host: Host) -> bool:
    """A host row as routing and the runner read it: its flag, unless its kind or URL overrules it."""
    return host.external or always_external(host.kind, host.url)
