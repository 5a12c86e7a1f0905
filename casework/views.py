from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from casework import audit
from casework.forms import CaseForm, PartyFormSet, UploadForm
from casework.indexing import do_remove_document
from casework.intake import do_create_case
from casework.models import Case, Document, DocumentStatus, Membership, PiiFinding, Role, role_of
from casework.search import STOP_WORDS, search_case
from casework.tasks import ingest_document_task
from casework.uploads import UploadRejected, do_store_upload, storage_path


def current_user(request: HttpRequest) -> User:
    """The signed-in user of a view behind login_required."""
    if not isinstance(request.user, User):
        raise Http404
    return request.user


def visible_case(request: HttpRequest, case_id: int) -> Case:
    """The case if this user may see it; otherwise a 404 that says nothing about whether it exists."""
    return get_object_or_404(Case.objects.visible_to(request.user), pk=case_id)


def caseworker_membership(request: HttpRequest) -> Membership:
    membership = Membership.objects.select_related("firm").filter(user=current_user(request)).first()
    if membership is None or membership.role not in (Role.ATTORNEY, Role.PARALEGAL):
        raise Http404
    return membership


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    cases = Case.objects.visible_to(request.user).prefetch_related("documents")
    return render(request, "casework/case_list.html", {"cases": cases})


@login_required
def case_create(request: HttpRequest) -> HttpResponse:
    membership = caseworker_membership(request)
    form = CaseForm(request.POST or None)
    parties = PartyFormSet(request.POST or None, prefix="party")
    if request.method == "POST" and form.is_valid() and parties.is_valid():
        party_inputs = [p for p in (f.to_input() for f in parties.forms) if p is not None]
        try:
            case = do_create_case(
                firm=membership.firm,
                data=form.to_input(party_inputs),
                created_by=current_user(request),
                assignees=[current_user(request)],
            )
        except IntegrityError:
            form.add_error("title", "Your firm already has a case with this title.")
        else:
            audit.record(request=request, action="create", obj=case, case=case)
            messages.success(request, "Case created.")
            return redirect("casework:case_detail", case_id=case.pk)
    return render(request, "casework/case_form.html", {"form": form, "parties": parties})


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = visible_case(request, case_id)
    audit.record(request=request, action="view", obj=case, case=case)
    documents = list(case.documents.all())
    context = {
        "case": case,
        "parties": case.parties.all(),
        "documents": documents,
        "documents_pending": _pending(documents),
        "runs": case.runs.all()[:10],
        "upload_form": UploadForm(),
    }
    return render(request, "casework/case_detail.html", context)


@login_required
def document_list_partial(request: HttpRequest, case_id: int) -> HttpResponse:
    """The live document table: htmx polls it while any document is still being processed."""
    case = visible_case(request, case_id)
    documents = list(case.documents.all())
    return render(
        request,
        "casework/_documents.html",
        {"case": case, "documents": documents, "documents_pending": _pending(documents)},
    )


def _pending(documents: list[Document]) -> bool:
    return any(d.status in (DocumentStatus.QUEUED, DocumentStatus.PROCESSING) for d in documents)


@login_required
@require_POST
def document_upload(request: HttpRequest, case_id: int) -> HttpResponse:
    case = visible_case(request, case_id)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("file", []):
            messages.error(request, str(error))
        return redirect("casework:case_detail", case_id=case.pk)
    upload = form.cleaned_data["file"]
    try:
        stored = do_store_upload(case=case, name=upload.name, stream=upload, uploaded_by=current_user(request))
    except UploadRejected as exc:
        messages.error(request, f"{upload.name}: {exc}")
        return redirect("casework:case_detail", case_id=case.pk)
    if stored.duplicate:
        messages.info(request, f"{upload.name} is already in this case (as {stored.document.original_name}).")
    else:
        document_id = stored.document.pk
        transaction.on_commit(lambda: ingest_document_task.delay(document_id))
        audit.record(request=request, action="upload", obj=stored.document, case=case)
        messages.success(request, f"{upload.name} uploaded; reading its pages.")
    return redirect("casework:case_detail", case_id=case.pk)


_QUERY_WORD = re.compile(r"[\w'-]{3,}")
# Passages this far from the question are noise on the search page.
_MIN_SHOWN_SCORE = 0.1


def highlight(text: str, query: str) -> str:
    """The passage, escaped, with the question's words marked."""
    words = sorted(
        {w.lower() for w in _QUERY_WORD.findall(query) if w.lower() not in STOP_WORDS}, key=len, reverse=True
    )
    escaped = escape(text)
    if not words:
        return escaped
    pattern = re.compile(r"\b(" + "|".join(re.escape(escape(w)) for w in words) + r")", re.IGNORECASE)
    return mark_safe(pattern.sub(r"<mark>\1</mark>", escaped))  # noqa: S308 - built from escaped text


@login_required
def case_search(request: HttpRequest, case_id: int) -> HttpResponse:
    case = visible_case(request, case_id)
    query = request.GET.get("q", "").strip()[:500]
    results = []
    if query:
        audit.record(request=request, action="search", obj=case, case=case)
        for passage in search_case(case, query, k=10):
            if passage.score < _MIN_SHOWN_SCORE:
                continue
            results.append({"passage": passage, "html": highlight(passage.text, query)})
    return render(request, "casework/search.html", {"case": case, "query": query, "results": results})


@login_required
def document_detail(request: HttpRequest, case_id: int, document_id: int) -> HttpResponse:
    case = visible_case(request, case_id)
    document = get_object_or_404(Document, pk=document_id, case=case)
    audit.record(request=request, action="view", obj=document, case=case)
    pages = list(document.pages.prefetch_related("pii_findings"))
    marked = [{"page": page, "html": mark_findings(page.text, list(page.pii_findings.all()))} for page in pages]
    return render(request, "casework/document_detail.html", {"case": case, "document": document, "pages": marked})


def mark_findings(text: str, findings: list[PiiFinding]) -> str:
    """The page's text, escaped, with each piece of PII wrapped in a <mark> naming its kind."""
    pieces: list[str] = []
    done = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < done or finding.end > len(text):
            continue
        pieces.append(escape(text[done : finding.start]))
        pieces.append(
            format_html('<mark class="pii" data-kind="{}" title="{}">{}</mark>', finding.kind, finding.kind,
                        text[finding.start : finding.end])
        )  # fmt: skip
        done = finding.end
    pieces.append(escape(text[done:]))
    return mark_safe("".join(pieces))  # noqa: S308 - every piece is escaped above


@login_required
def document_download(request: HttpRequest, case_id: int, document_id: int) -> FileResponse:
    case = visible_case(request, case_id)
    document = get_object_or_404(Document, pk=document_id, case=case)
    path = storage_path(document.stored_name)
    if not path.is_file():
        raise Http404
    audit.record(request=request, action="download", obj=document, case=case)
    response = FileResponse(
        path.open("rb"),
        content_type=document.content_type,
        as_attachment=True,
        filename=document.original_name,
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def document_remove(request: HttpRequest, case_id: int, document_id: int) -> HttpResponse:
    """Take a document out of the case: its pages, chunks, findings and file go, and the index follows.
    Attorneys only: evidence is not removed by accident."""
    case = visible_case(request, case_id)
    if role_of(request.user) != Role.ATTORNEY:
        raise Http404
    document = get_object_or_404(Document, pk=document_id, case=case)
    if document.status in (DocumentStatus.QUEUED, DocumentStatus.PROCESSING):
        messages.error(request, f"{document.original_name} is still being read; remove it when it is done.")
        return redirect("casework:case_detail", case_id=case.pk)
    audit.record(request=request, action="remove", obj=document, case=case)
    name = document.original_name
    do_remove_document(document)
    messages.success(request, f"{name} was removed from the case.")
    return redirect("casework:case_detail", case_id=case.pk)


@login_required
@require_POST
def document_retry(request: HttpRequest, case_id: int, document_id: int) -> HttpResponse:
    """Read a rejected document again, or an encrypted one with the password an attorney gives.

    The password travels with this one task and is never stored or logged.
    """
    case = visible_case(request, case_id)
    document = get_object_or_404(Document, pk=document_id, case=case)
    password = request.POST.get("password") or None
    if password and role_of(request.user) != Role.ATTORNEY:
        raise Http404
    if document.status in (DocumentStatus.REJECTED, DocumentStatus.NEEDS_PASSWORD):
        Document.objects.filter(pk=document.pk).update(status=DocumentStatus.QUEUED, error="")
        transaction.on_commit(lambda: ingest_document_task.delay(document.pk, password=password))
        audit.record(request=request, action="retry", obj=document, case=case)
    return redirect("casework:case_detail", case_id=case.pk)
