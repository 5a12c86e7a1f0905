"""The client's consent to redacted text of their case being sent to models outside the firm.

It is given at intake and may be withdrawn at any time from the case page. The runner reads it from the case
as each call is about to be sent (llmops.redaction), so a withdrawal also stops calls already queued.
"""

from __future__ import annotations

from casework.models import Case


def do_withdraw_consent(case: Case) -> bool:
    """Withdraw the client's consent to external models; False when there was none to withdraw."""
    return Case.objects.filter(pk=case.pk, consent_external=True).update(consent_external=False) == 1
