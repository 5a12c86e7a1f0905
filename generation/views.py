from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from casework import audit
from casework.models import Role, role_of
from casework.views import current_user, visible_case
from generation.export import declaration_docx
from generation.forms import DraftEditForm
from generation.models import DeclarationRun, DraftVersion
from generation.pipeline import (
    RunNotStartable,
    VersionFrozen,
    check_can_start,
    do_approve_version,
    do_save_version,
    do_start_run,
)


def _run_for(request: HttpRequest, case_id: int, run_id: int) -> DeclarationRun:
    case = visible_case(request, case_id)
    return get_object_or_404(DeclarationRun.objects.select_related("case"), pk=run_id, case=case)


@login_required
@require_POST
def run_start(request: HttpRequest, case_id: int) -> HttpResponse:
    case = visible_case(request, case_id)
    try:
        check_can_start(case)
    except RunNotStartable as exc:
        messages.error(request, str(exc))
        return redirect("casework:case_detail", case_id=case.pk)
    run = do_start_run(case=case, created_by=current_user(request))
    messages.success(request, "Drafting started.")
    return redirect("generation:run_detail", case_id=case.pk, run_id=run.pk)


@login_required
def run_detail(request: HttpRequest, case_id: int, run_id: int) -> HttpResponse:
    run = _run_for(request, case_id, run_id)
    versions = list(run.versions.order_by("number"))
    version = versions[-1] if versions else None
    if "version" in request.GET and versions:
        version = next((v for v in versions if str(v.number) == request.GET["version"]), None)
        if version is None:
            raise Http404
    if version is not None:
        audit.record(request=request, action="view", obj=version, case=run.case)
    context = {
        "case": run.case,
        "run": run,
        "run_sections": run.sections.select_related("call__model"),
        "versions": versions,
        "version": version,
        "version_sections": version.sections.all() if version else [],
        "can_edit": role_of(request.user) == Role.ATTORNEY and version is not None,
        "latest_number": versions[-1].number if versions else None,
        "latest_approved": bool(versions and versions[-1].approved_at),
    }
    template = "generation/_run_progress.html" if request.headers.get("HX-Request") else "generation/run_detail.html"
    return render(request, template, context)


@login_required
def run_edit(request: HttpRequest, case_id: int, run_id: int) -> HttpResponse:
    run = _run_for(request, case_id, run_id)
    if role_of(request.user) != Role.ATTORNEY:
        raise Http404  # paralegals read drafts; only attorneys change them
    latest = run.latest_version()
    if latest is None:
        messages.error(request, "There is no draft to edit yet.")
        return redirect("generation:run_detail", case_id=run.case_id, run_id=run.pk)
    if latest.approved_at is not None:
        messages.error(request, f"Version {latest.number} is approved and frozen; it can no longer be edited.")
        return redirect("generation:run_detail", case_id=run.case_id, run_id=run.pk)
    form = DraftEditForm(request.POST or None, version=latest)
    if request.method == "POST" and form.is_valid():
        try:
            version = do_save_version(
                run=run, texts=form.texts(), created_by=current_user(request), note=form.cleaned_data["note"]
            )
        except VersionFrozen as exc:
            messages.error(request, str(exc))
            return redirect("generation:run_detail", case_id=run.case_id, run_id=run.pk)
        audit.record(request=request, action="edit", obj=version, case=run.case)
        messages.success(request, f"Saved as version {version.number}.")
        return redirect("generation:run_detail", case_id=run.case_id, run_id=run.pk)
    return render(request, "generation/run_edit.html", {"case": run.case, "run": run, "version": latest, "form": form})


def _attorney_version(request: HttpRequest, case_id: int, run_id: int, number: int) -> DraftVersion:
    """A version of a run on a case the user sees, for an attorney; 404 for anyone else."""
    run = _run_for(request, case_id, run_id)
    if role_of(request.user) != Role.ATTORNEY:
        raise Http404  # paralegals draft and read; approving and exporting are the attorney's
    return get_object_or_404(DraftVersion.objects.select_related("run__case"), run=run, number=number)


@login_required
@require_POST
def version_approve(request: HttpRequest, case_id: int, run_id: int, number: int) -> HttpResponse:
    version = _attorney_version(request, case_id, run_id, number)
    try:
        do_approve_version(version=version, approved_by=current_user(request))
    except VersionFrozen as exc:
        messages.error(request, str(exc))
    else:
        audit.record(request=request, action="approve", obj=version, case=version.run.case)
        messages.success(request, f"Version {version.number} is approved and frozen.")
    return redirect("generation:run_detail", case_id=case_id, run_id=run_id)


@login_required
def version_export(request: HttpRequest, case_id: int, run_id: int, number: int) -> HttpResponse:
    version = _attorney_version(request, case_id, run_id, number)
    audit.record(request=request, action="export", obj=version, case=version.run.case)
    response = HttpResponse(
        declaration_docx(version),
        content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    response["Content-Disposition"] = f'attachment; filename="declaration-run{run_id}-v{number}.docx"'
    response["Cache-Control"] = "no-store"
    return response
