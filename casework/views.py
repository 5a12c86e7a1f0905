from __future__ import annotations

import io
import re
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from casework import audit
from casework.consent import do_withdraw_consent
from casework.forms import CaseForm, PartyFormSet, TotpTokenForm, UploadForm
from casework.indexing import do_remove_document
from casework.intake import do_create_case
from casework.models import Case, Document, DocumentStatus, Membership, PiiFinding, Role, role_of
from casework.pdf_passwords import do_hold_password
from casework.search import STOP_WORDS, search_case
from casework.tasks import ingest_document_task
from casework.twofactor import (
    check_totp,
    confirmed_device,
    do_confirm_device,
    pending_device,
    readable_secret,
    session_verified,
    totp_required,
    verification_throttled,
)
from casework.upload_limit import file_over_limit, too_large_message
from casework.uploads import UploadRejected, do_store_upload, read_stored


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
        "runs": case.runs.filter(regenerates__isnull=True)[:10],
        "upload_form": UploadForm(),
    }
    return render(request, "casework/case_detail.html", context)


@login_required
@require_POST
def case_consent_withdraw(request: HttpRequest, case_id: int) -> HttpResponse:
    """Withdraw the client's consent to external models: anyone on the case may, since the client may ask any of
    them, and nothing of the case leaves the firm from then on."""
    case = visible_case(request, case_id)
    if do_withdraw_consent(case):
        audit.record(request=request, action="withdraw_consent", obj=case, case=case)
        messages.success(request, "Consent withdrawn: no text of this case will be sent to external models.")
    return redirect("casework:case_detail", case_id=case.pk)


# One page of the trail: enough to read at a glance, few enough to render at once.
AUDIT_PAGE_SIZE = 50


@login_required
def case_audit(request: HttpRequest, case_id: int) -> HttpResponse:
    """Who did what to the case, newest first: for the attorneys assigned to it (404 for anyone else).

    Reading the trail is recorded before it is read, so the reader sees their own visit at the top.
    """
    case = visible_case(request, case_id)
    if role_of(request.user) != Role.ATTORNEY:
        raise Http404
    audit.record(request=request, action="view_audit", obj=case, case=case)
    page = Paginator(case.audit_events.select_related("actor"), AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "casework/case_audit.html", {"case": case, "page": page})


@login_required
def document_list_partial(request: HttpRequest, case_id: int) -> HttpResponse:
    """The live document table: htmx polls it while any document is still being processed.

    Not audited: it refreshes file names and processing status of the case page, whose opening was
    recorded, and shows no case text; a row per two-second poll would bury the trail.
    """
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
    too_large = file_over_limit(request)
    if too_large is not None:
        # Stopped while being read (casework.upload_limit): nothing of it was kept, and 413 says why.
        context = {"message": too_large_message(too_large), "case": case}
        return render(request, "casework/upload_too_large.html", context, status=413)
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
    """The search form, and the passages for a question posted to it. The question (names, events) is read from
    the body alone: in a URL it would land in access logs, browser history and the sign-in redirect's `next`."""
    case = visible_case(request, case_id)
    query = request.POST.get("q", "").strip()[:500]
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
    try:
        # Decrypted in memory (uploads are at most AFFIANT_MAX_UPLOAD_BYTES); a key that opens nothing
        # raises FileKeyError, a server error that names the file, never a download of ciphertext.
        data = read_stored(document.stored_name)
    except FileNotFoundError:
        raise Http404 from None
    audit.record(request=request, action="download", obj=document, case=case)
    response = FileResponse(
        io.BytesIO(data),
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

    The password is held encrypted for this one parse, and the task carries only its id: the broker keeps a
    task's arguments on disk (casework.pdf_passwords).
    """
    case = visible_case(request, case_id)
    document = get_object_or_404(Document, pk=document_id, case=case)
    password = request.POST.get("password") or None
    if password and role_of(request.user) != Role.ATTORNEY:
        raise Http404
    if document.status in (DocumentStatus.REJECTED, DocumentStatus.NEEDS_PASSWORD):
        password_id = do_hold_password(password) if password else None
        Document.objects.filter(pk=document.pk).update(status=DocumentStatus.QUEUED, error="", queued_at=timezone.now())
        transaction.on_commit(lambda: ingest_document_task.delay(document.pk, password_id=password_id))
        audit.record(request=request, action="retry", obj=document, case=case)
    return redirect("casework:case_detail", case_id=case.pk)


# --- Signing in: the lockout page and attorneys' second factor --------------------------------


def login_locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: dict) -> HttpResponse:
    """django-axes' answer (AXES_LOCKOUT_CALLABLE) once a username has failed too often from one address."""
    context = {
        "failure_limit": settings.AFFIANT_LOGIN_FAILURE_LIMIT,
        "cooloff_minutes": settings.AFFIANT_LOGIN_COOLOFF_MIN,
    }
    return render(request, "registration/locked_out.html", context, status=429)


def _next_url(request: HttpRequest) -> str:
    """Where to go once signed in: the `next` the user came with when it is one of ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


_WRONG_CODE = "That code is not right, or it has expired. Enter the code your app shows now."
# django-otp doubles the wait after each wrong code in a row (1 s, 2 s, 4 s...).
_THROTTLED = "Too many wrong codes in a row. Wait a little, then enter the code your app shows."


def _take_code(request: HttpRequest, device: TOTPDevice, accept: Callable[[str], bool]) -> tuple[TotpTokenForm, bool]:
    """The code form, and whether a posted code was accepted; a throttled device is not asked at all."""
    form = TotpTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if verification_throttled(device):
            form.add_error("token", _THROTTLED)
        elif accept(form.cleaned_data["token"]):
            return form, True
        else:
            form.add_error("token", _WRONG_CODE)
    return form, False


@login_required
def totp_verify(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    next_url = _next_url(request)
    if session_verified(request) or not totp_required(user):
        return redirect(next_url)
    device = confirmed_device(user)
    if device is None:
        return redirect(f"{reverse('casework:totp_enrol')}?{urlencode({'next': next_url})}")
    form, accepted = _take_code(request, device, lambda token: check_totp(request=request, device=device, token=token))
    if accepted:
        return redirect(next_url)
    return render(request, "casework/totp_verify.html", {"form": form, "next": next_url})


@login_required
def totp_enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: only for an attorney who has none yet (one who has must use it)."""
    user = current_user(request)
    next_url = _next_url(request)
    if session_verified(request) or not totp_required(user):
        return redirect(next_url)
    if confirmed_device(user) is not None:
        return redirect(f"{reverse('casework:totp_verify')}?{urlencode({'next': next_url})}")
    device = pending_device(user)
    form, accepted = _take_code(
        request, device, lambda token: do_confirm_device(request=request, device=device, token=token)
    )
    if accepted:
        messages.success(request, "Your authenticator app is set up; you will be asked for a code at each sign-in.")
        return redirect(next_url)
    context = {"form": form, "next": next_url, "secret": readable_secret(device), "otpauth_uri": device.config_url}
    return render(request, "casework/totp_enrol.html", context)
