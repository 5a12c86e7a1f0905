"""The token the model host's control port asks of every request, and the check it makes.

Any local user can reach a loopback port, and the control port loads and unloads models and says where each
one listens. So the supervisor and its clients (the GPU worker's calls, heartbeat and unloads; the stack that
reuses a running supervisor) share a token: LLAMACPP_CONTROL_TOKEN when it is set, else one this installation generates
once in var/modelhost.secret, readable by its owner alone.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from django.conf import settings

from config.keyfile import installation_secret


def control_token() -> str:
    """Read when first needed, so that a deployment without a managed host keeps no such file."""
    return settings.LLAMACPP_CONTROL_TOKEN or installation_secret(
        Path(settings.VAR_DIR) / "modelhost.secret",
        generate=lambda: secrets.token_urlsafe(32).encode(),
        variable="LLAMACPP_CONTROL_TOKEN",
    )


def control_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {control_token()}"}


def carries_token(authorization: str, *, token: str) -> bool:
    """Whether an Authorization header carries `token`; compared in constant time, so timing tells nothing."""
    return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())
