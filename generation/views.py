from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from casework import audit
from casework.models import Role, role_of
from casework.views import current_user, visible_case
from generation.forms import DraftEditForm
from generation.models import DeclarationRun
from generation.pipeline import RunNotStartable, check_can_start, do_save_version, do_start_run


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
    form = DraftEditForm(request.POST or None, version=latest)
    if request.method == "POST" and form.is_valid():
        version = do_save_version(
            run=run, texts=form.texts(), created_by=current_user(request), note=form.cleaned_data["note"]
        )
        audit.record(request=request, action="edit", obj=version, case=run.case)
        messages.success(request, f"Saved as version {version.number}.")
        return redirect("generation:run_detail", case_id=run.case_id, run_id=run.pk)
    return render(request, "generation/run_edit.html", {"case": run.case, "run": run, "version": latest, "form": form})
