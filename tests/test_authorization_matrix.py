"""Who may open which URL: every URL the resolver knows, every kind of person, one table.

The URLs are read from Django's resolver, so a new URL without an entry in MATRIX fails
`test_every_url_has_an_entry_in_the_matrix` with its name. An entry says how to build the URL's
arguments from the objects below, which methods to try, and what each actor gets; an actor an entry
does not name gets 404 (nothing out of scope is even admitted to exist), and an anonymous visitor is
sent to sign in. Each request runs in a savepoint that is rolled back, so every actor meets the same
objects, and no allowed POST changes what the next actor sees.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from casework.models import Case, Document, DocumentStatus, Party, PartyRole
from casework.pdfgen import text_pdf
from casework.uploads import do_store_upload
from generation.models import DeclarationRun
from llmops.models import Host, LLMModel
from tests.conftest import make_case
from tests.generation.test_versions import drafted_run

pytestmark = pytest.mark.django_db

ACTORS = (
    "attorney",  # assigned to the case
    "unassigned_attorney",  # same firm
    "paralegal",  # assigned to the case
    "unassigned_paralegal",  # same firm
    "other_firm_attorney",
    "ops",
    "anonymous",
)
CASE_TEAM = ("attorney", "paralegal")
CASEWORKERS = ("attorney", "unassigned_attorney", "paralegal", "unassigned_paralegal", "other_firm_attorney")
SIGNED_IN = (*CASEWORKERS, "ops")
LOGIN = "login"  # a redirect to the sign-in page
# What identifies the case (a party added below, the client's A-number): no page may show it outside its team.
CASE_SECRETS = ("Zebulon Quartermaine", "A123456789")

Expected = int | str  # a status code, or LOGIN


@dataclass(frozen=True)
class Scope:
    """The objects a URL's arguments point at."""

    case: Case
    document: Document
    run: DeclarationRun
    model: LLMModel
    host: Host
    version: int = 1
    section: str = "introduction"  # a section key of drafted_run's version
    sentence: int = 0


@dataclass(frozen=True)
class Entry:
    kwargs: Callable[[Scope], dict[str, Any]]
    # method -> actor -> what they get; unnamed actors get 404, an unnamed anonymous visitor LOGIN.
    methods: Mapping[str, Mapping[str, Expected]] = field(default_factory=dict)

    def expected(self, method: str, actor: str) -> Expected:
        return self.methods[method].get(actor, LOGIN if actor == "anonymous" else 404)


def allow(status: int, *actors: str, anonymous: Expected = LOGIN) -> dict[str, Expected]:
    return {**dict.fromkeys(actors, status), "anonymous": anonymous}


def everyone(status: int) -> dict[str, Expected]:
    return dict.fromkeys(ACTORS, status)


# --- how to build each URL's arguments --------------------------------------------------------------


def no_args(s: Scope) -> dict[str, Any]:
    return {}


def case_args(s: Scope) -> dict[str, Any]:
    return {"case_id": s.case.pk}


def document_args(s: Scope) -> dict[str, Any]:
    return {"case_id": s.case.pk, "document_id": s.document.pk}


def run_args(s: Scope) -> dict[str, Any]:
    return {"case_id": s.case.pk, "run_id": s.run.pk}


def version_args(s: Scope) -> dict[str, Any]:
    return {**run_args(s), "number": s.version}


def section_args(s: Scope) -> dict[str, Any]:
    return {**run_args(s), "key": s.section}


def sentence_args(s: Scope) -> dict[str, Any]:
    return {**version_args(s), "key": s.section, "index": s.sentence}


def model_args(s: Scope) -> dict[str, Any]:
    return {"model_id": s.model.pk}


def host_args(s: Scope) -> dict[str, Any]:
    return {"host_id": s.host.pk}


# --- the matrix ------------------------------------------------------------------------------------

MATRIX: dict[str, Entry] = {
    # Signing in and out: open to all. /metrics is for a scraper with the bearer token (set below), never a session.
    "login": Entry(no_args, {"GET": everyone(200)}),
    "logout": Entry(no_args, {"POST": everyone(302)}),
    "metrics": Entry(no_args, {"GET": everyone(401)}),
    # Ops pages: ops admins only, metadata only.
    "llmops:dashboard": Entry(no_args, {"GET": allow(200, "ops")}),
    "llmops:hangs": Entry(no_args, {"GET": allow(200, "ops")}),
    "llmops:model_list": Entry(no_args, {"GET": allow(200, "ops")}),
    "llmops:model_unload": Entry(model_args, {"POST": allow(302, "ops")}),
    "llmops:model_reset_circuit": Entry(model_args, {"POST": allow(302, "ops")}),
    "llmops:host_restart": Entry(host_args, {"POST": allow(302, "ops")}),
    # Cases. The list and the new-case form are every caseworker's; what the list shows is scoped.
    "casework:case_list": Entry(no_args, {"GET": allow(200, *SIGNED_IN)}),
    "casework:case_create": Entry(
        no_args,
        {"GET": allow(200, *CASEWORKERS), "POST": allow(200, *CASEWORKERS)},  # an empty POST: the form again
    ),
    # The second factor's pages: with AFFIANT_ATTORNEY_TOTP off (the default) they send everyone on.
    "casework:totp_verify": Entry(no_args, {"GET": allow(302, *SIGNED_IN)}),
    "casework:totp_enrol": Entry(no_args, {"GET": allow(302, *SIGNED_IN)}),
    "casework:case_detail": Entry(case_args, {"GET": allow(200, *CASE_TEAM)}),
    # The question is posted (an empty POST: the form again).
    "casework:case_search": Entry(case_args, {"GET": allow(200, *CASE_TEAM), "POST": allow(200, *CASE_TEAM)}),
    # Anyone on the case may withdraw the client's consent to external models.
    "casework:case_consent_withdraw": Entry(case_args, {"POST": allow(302, *CASE_TEAM)}),
    "casework:case_audit": Entry(case_args, {"GET": allow(200, "attorney")}),
    "casework:document_list": Entry(case_args, {"GET": allow(200, *CASE_TEAM)}),
    "casework:document_upload": Entry(case_args, {"POST": allow(302, *CASE_TEAM)}),
    "casework:document_detail": Entry(document_args, {"GET": allow(200, *CASE_TEAM)}),
    "casework:document_download": Entry(document_args, {"GET": allow(200, *CASE_TEAM)}),
    "casework:document_retry": Entry(document_args, {"POST": allow(302, *CASE_TEAM)}),
    "casework:document_remove": Entry(document_args, {"POST": allow(302, "attorney")}),
    # --- generation/ --------------------------------------------------------------------------------
    "generation:run_start": Entry(case_args, {"POST": allow(302, *CASE_TEAM)}),
    "generation:run_detail": Entry(run_args, {"GET": allow(200, *CASE_TEAM)}),
    # An empty POST re-renders the form.
    "generation:run_edit": Entry(run_args, {"GET": allow(200, "attorney"), "POST": allow(200, "attorney")}),
    "generation:version_approve": Entry(version_args, {"POST": allow(302, "attorney")}),
    # Resolving a flagged sentence is the attorney's (an empty POST: back with a message).
    "generation:sentence_accept": Entry(sentence_args, {"POST": allow(302, "attorney")}),
    "generation:sentence_remove": Entry(sentence_args, {"POST": allow(302, "attorney")}),
    "generation:version_export": Entry(version_args, {"GET": allow(200, "attorney")}),
    "generation:version_export_pdf": Entry(version_args, {"GET": allow(200, "attorney")}),
    "generation:run_progress": Entry(run_args, {"GET": allow(200, *CASE_TEAM)}),
    "generation:sentence_evidence": Entry(sentence_args, {"GET": allow(200, *CASE_TEAM)}),
    # Without ?a=&b= the compare page sends the reader back to the draft with a message.
    "generation:version_compare": Entry(run_args, {"GET": allow(302, *CASE_TEAM)}),
    # Anyone on the case comments; only attorneys change the draft (an empty POST: back with a message).
    "generation:comment_add": Entry(run_args, {"POST": allow(302, *CASE_TEAM)}),
    "generation:section_edit": Entry(section_args, {"POST": allow(302, "attorney")}),
    "generation:section_regenerate": Entry(section_args, {"POST": allow(302, "attorney")}),
}


# --- the URLs the resolver knows ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    route: str


def routes(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for item in (resolver or get_resolver()).url_patterns:
        if isinstance(item, URLResolver):
            # Skipped by rule: Django's admin. It has its own sign-in and lets in only staff users, and no
            # Affiant role is staff (test_the_admin_lets_no_actor_in checks that it stays closed to them).
            if item.namespace == "admin":
                continue
            inner = ":".join(part for part in (namespace, item.namespace) if part)
            yield from routes(item, prefix + str(item.pattern), inner)
        elif isinstance(item, URLPattern):
            # Skipped by rule: static files (served by django.views.static in development only).
            if item.callback.__module__ in ("django.views.static", "django.contrib.staticfiles.views"):
                continue
            route = prefix + str(item.pattern)
            name = f"{namespace}:{item.name}" if namespace and item.name else item.name
            yield Route(name=name or f"<unnamed: {route}>", route=route)


# --- the objects ---------------------------------------------------------------------------------------


def _scope_for(case: Case, machinery: tuple[LLMModel, Host], text: str) -> Scope:
    document = do_store_upload(
        case=case, name="report.pdf", stream=io.BytesIO(text_pdf([text])), uploaded_by=None
    ).document
    # Rejected: retry and remove then act, instead of waiting for a worker.
    Document.objects.filter(pk=document.pk).update(status=DocumentStatus.REJECTED)
    return Scope(case=case, document=document, run=drafted_run(case), model=machinery[0], host=machinery[1])


@pytest.fixture
def world(firm_people: dict[str, Any], settings: Any) -> dict[str, Any]:
    """The firm's case (`home`), another firm's case (`foreign`), and the ops machinery."""
    settings.AFFIANT_METRICS_TOKEN = "a-scraper-token"
    host = Host.objects.create(name="local", kind="llamacpp", restart_command="true")
    model = LLMModel.objects.create(
        name="drafter", host=host, remote_name="gemma-3-270m", context_length=2048, max_output_tokens=64,
        first_token_timeout_s=5, stall_timeout_s=2, total_timeout_s=30,
    )  # fmt: skip
    Party.objects.create(case=firm_people["case"], role=PartyRole.OTHER, name=CASE_SECRETS[0])
    outsider = firm_people["other_firm_attorney"]
    foreign_case = make_case(outsider.membership.firm, [outsider], title="Roe - T visa")
    return {
        "people": firm_people,
        "home": _scope_for(firm_people["case"], (model, host), "A police report."),
        "foreign": _scope_for(foreign_case, (model, host), "Another firm's report."),
    }


def _request(people: dict[str, Any], actor: str, method: str, url: str) -> HttpResponse:
    """One request in a savepoint that is rolled back: the next actor finds everything as it was."""
    client = Client()
    with transaction.atomic():
        if actor != "anonymous":
            client.force_login(people[actor])
        response: HttpResponse = getattr(client, method.lower())(url)
        transaction.set_rollback(True)
    return response


def _verdict(response: HttpResponse, expected: Expected) -> str | None:
    """None when the response is what the matrix says, else what went wrong."""
    if expected == LOGIN:
        location = response.get("Location", "")
        if response.status_code == 302 and location.startswith(reverse("login")):
            return None
        return f"expected a redirect to sign in, got {response.status_code} {location}".rstrip()
    if response.status_code != expected:
        return f"expected {expected}, got {response.status_code}"
    return None


def _shows_the_case(response: HttpResponse) -> bool:
    if response.streaming or not 200 <= response.status_code < 300:
        return False
    body = response.content.decode(errors="replace")
    return any(secret in body for secret in CASE_SECRETS)


# --- the tests -----------------------------------------------------------------------------------------


def test_every_url_has_an_entry_in_the_matrix() -> None:
    missing = [f"{r.name} ({r.route})" for r in routes() if r.name not in MATRIX]
    assert not missing, "URLs with no entry in tests/test_authorization_matrix.py; add it to the matrix: " + ", ".join(
        missing
    )


def test_the_matrix_names_no_url_that_is_gone() -> None:
    known = {r.name for r in routes()}
    assert not sorted(set(MATRIX) - known), "entries for URLs that no longer exist"


def test_every_actor_gets_what_the_matrix_says(world: dict[str, Any], record_property: Any) -> None:
    people, home = world["people"], world["home"]
    failures: list[str] = []
    tally: Counter[str] = Counter()
    shown_to_team = 0  # the check for leaks can fail: the case's own pages do show what it looks for
    names = [r.name for r in routes() if r.name in MATRIX]
    for name in names:
        entry = MATRIX[name]
        url = reverse(name, kwargs=entry.kwargs(home))
        for method in entry.methods:
            for actor in ACTORS:
                expected = entry.expected(method, actor)
                response = _request(people, actor, method, url)
                problem = _verdict(response, expected)
                if actor in CASE_TEAM:
                    shown_to_team += _shows_the_case(response)
                elif problem is None and _shows_the_case(response):
                    problem = "shows the case to someone outside its team"
                if problem is not None:
                    failures.append(f"{method} {name} as {actor}: {problem}")
                tally["login redirect" if expected == LOGIN else str(response.status_code)] += 1
    summary = (
        f"authorization matrix: {len(names)} URLs x {len(ACTORS)} actors, {tally.total()} requests ("
        + ", ".join(f"{key}: {count}" for key, count in sorted(tally.items()))
        + f"), {len(failures)} failures"
    )
    record_property("authorization_matrix", summary)
    print(summary)  # shown by `pytest -s`
    assert not failures, "\n".join(failures)
    assert shown_to_team > 0


def test_objects_out_of_scope_are_404_even_to_the_cases_team(world: dict[str, Any]) -> None:
    """Another case's objects under this case's URL, and another firm's case: 404 for everyone here."""
    people, home, foreign = world["people"], world["home"], world["foreign"]
    mixed = replace(home, document=foreign.document, run=foreign.run)
    failures: list[str] = []
    checked = 0
    for name, entry in MATRIX.items():
        if entry.kwargs(home) == entry.kwargs(foreign):
            continue  # not scoped to a case (ops machinery, sign-in, lists)
        for scope, label in ((foreign, "another firm's case"), (mixed, "another case's object")):
            if scope is mixed and entry.kwargs(mixed) == entry.kwargs(home):
                continue
            url = reverse(name, kwargs=entry.kwargs(scope))
            for method in entry.methods:
                for actor in ACTORS:
                    if actor == "other_firm_attorney" and scope is foreign:
                        continue  # their own case
                    checked += 1
                    expected: Expected = LOGIN if actor == "anonymous" else 404
                    problem = _verdict(_request(people, actor, method, url), expected)
                    if problem is not None:
                        failures.append(f"{method} {name} on {label} as {actor}: {problem}")
    assert checked > 0
    assert not failures, "\n".join(failures)


def test_the_admin_lets_no_actor_in(world: dict[str, Any]) -> None:
    url = reverse("admin:index")
    for actor in ACTORS:
        response = _request(world["people"], actor, "GET", url)
        assert response.status_code == 302 and reverse("admin:login") in response["Location"], actor
