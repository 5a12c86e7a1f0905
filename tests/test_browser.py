"""Through Debian's Chromium: an attorney logs in, opens the demo case, edits the draft and sees version 2."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from casework.demo import DEMO_CASE_TITLE, DEMO_LOGINS, seed_demo
from generation.models import DeclarationRun, DraftSection, DraftVersion, RunStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _demo_draft() -> DeclarationRun:
    """The demo case with a finished draft, as the pipeline leaves it (the pipeline has its own tests)."""
    case = seed_demo()
    run = DeclarationRun.objects.create(
        case=case, template="vawa", template_version=1, status=RunStatus.COMPLETED,
        created_by=User.objects.get(username="paralegal"),
    )  # fmt: skip
    version = DraftVersion.objects.create(run=run, number=1, note="Drafted by the pipeline")
    DraftSection.objects.create(
        version=version, key="introduction", heading="Introduction", order=0,
        text="I, Maria Elena Ramírez López, was born on April 12, 1990 in Quetzaltenango, Guatemala.",
    )  # fmt: skip
    DraftSection.objects.create(
        version=version, key="how_we_met", heading="How we met", order=1,
        text="I met Daniel Robert Hayes in March 2015 at a church picnic in Houston.",
    )  # fmt: skip
    return run


def test_attorney_logs_in_edits_the_draft_and_sees_version_2(live_server: Any, chromium: Any) -> None:
    run = _demo_draft()
    attorney = next(login for login in DEMO_LOGINS if login.username == "attorney")
    page = chromium.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", attorney.username)
        page.fill("#id_password", attorney.password)
        page.click("button[type=submit]")
        page.click(f"text={DEMO_CASE_TITLE}")
        page.wait_for_selector("h1")
        assert page.inner_text("h1") == DEMO_CASE_TITLE
        page.click(f"text=Draft {run.pk}")
        assert page.inner_text("#version-label") == "Version 1"
        page.click("text=Edit draft")
        edited = "I met Daniel Robert Hayes on March 22, 2015 at the St. Anne's parish picnic in Houston."
        page.fill("textarea[name=section_how_we_met]", edited)
        page.fill("input[name=note]", "Exact date from the client")
        page.click("text=Save as version 2")
        page.wait_for_selector("#version-label")
        assert page.inner_text("#version-label") == "Version 2"
        assert edited in page.inner_text("section[data-section=how_we_met]")
        page.click("a[href='?version=1']")
        assert page.inner_text("#version-label") == "Version 1"
        assert "March 2015 at a church picnic" in page.inner_text("section[data-section=how_we_met]")
    finally:
        page.close()
    assert list(run.versions.values_list("number", flat=True)) == [1, 2]
    assert run.versions.get(number=2).created_by == User.objects.get(username="attorney")
