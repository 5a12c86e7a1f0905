from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from casework.demo import DEMO_LOGINS, seed_demo


class Command(BaseCommand):
    help = "Create (idempotently) the demo firm, its attorney, paralegal and ops admin, and a demo VAWA case."

    def handle(self, *args: Any, **options: Any) -> None:
        case = seed_demo()
        self.stdout.write(f"demo case {case.pk}: {case.title}")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  login {login.username:<10} password {login.password:<24} ({login.role})")
