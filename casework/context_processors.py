from __future__ import annotations

from django.http import HttpRequest

from casework.models import role_of


def membership(request: HttpRequest) -> dict[str, object]:
    role = role_of(request.user)
    return {"user_role": role}
