from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from casework import audit
from casework.models import Role, role_of
from casework.views import current_user, visible_case
from generation import export
from generation.diff import compare_versions
from generation.evidence import cited_pages, cited_record
from generation.flags import flag_count, open_in_section
from generation.forms import AcceptSentenceForm, CommentForm, DraftEditForm, SectionEditForm
from generation.models import Comment, DeclarationRun, DraftSection, DraftVersion, RunStatus, StepStatus
from generation.pipeline import (
    FlagsOpen,
    NotResolvable,
    RunNotStartable,
    VersionFrozen,
    check_can_start,
    do_accept_sentence,
    do_approve_version,
    do_regenerate_section,
    do_remove_sentence,
    do_save_version,
    do_start_run,
)


def _run_for(request: HttpRequest, case_id: int, run_id: int) -> DeclarationRun:
    case = visible_case(request, case_id)
    return get_object_or_404(
        DeclarationRun.objects.select_related("case"), pk=run_id, case=case, regenerates__isnull=True
    )


def _is_attorney(request: HttpRequest) -> bool:
    return role_of(request.user) == Role.ATTORNEY


def _back_to_run(run: DeclarationRun, version: int | None = None) -> HttpResponse:
    response = redirect("generation:run_detail", case_id=run.case_id, run_id=run.pk)
    if version is not None:
        response["Location"] += f"?version={version}"
    return response


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
    audit.record(request=request, action="start_run", obj=run, case=case)
    messages.success(request, "Drafting started.")
    return redirect("generation:run_detail", case_id=case.pk, run_id=run.pk)


def _progress_context(run: DeclarationRun) -> dict[str, object]:
    sections = list(run.sections.prefetch_related("steps"))
    regenerating = list(run.regenerations.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]))
    steps = [step for s in sections for step in s.steps.all()]
    return {
        "run": run,
        "case": run.case,
        "run_sections": sections,
        "calls_done": sum(1 for s in steps if s.status != StepStatus.WAITING and s.stage != "score"),
        "calls_waiting": sum(1 for s in steps if s.status == StepStatus.WAITING and s.stage != "score"),
        "regenerating": regenerating,
    }


@login_required
def run_progress(request: HttpRequest, case_id: int, run_id: int) -> HttpResponse:
    """The live progress of a run (polled by the case and draft pages); no case text, so not audited."""
    run = _run_for(request, case_id, run_id)
    context = _progress_context(run)
    reload_when_done = bool(request.GET.get("reload"))
    response = render(request, "generation/_run_progress.html", {**context, "reload_when_done": reload_when_done})
    busy = not run.is_finished or bool(context["regenerating"])
    if request.headers.get("HX-Request") and not busy and reload_when_done:
        response["HX-Refresh"] = "true"  # the draft page shows the new version once the run is done
    return response


@login_required
def run_detail(request: HttpRequest, case_id: int, run_id: int) -> HttpResponse:
    run = _run_for(request, case_id, run_id)
    versions = list(run.versions.select_related("created_by", "approved_by").order_by("number"))
    version = versions[-1] if versions else None
    if "version" in request.GET and versions:
        version = next((v for v in versions if str(v.number) == request.GET["version"]), None)
        if version is None:
            raise Http404
    if version is not None:
        audit.record(request=request, action="view", obj=version, case=run.case)
    sections = list(version.sections.all()) if version else []
    comments = list(run.comments.select_related("author"))
    attorney = _is_attorney(request)
    latest = versions[-1] if versions else None
    open_by_key = {s.key: open_in_section(s) for s in sections}
    context = {
        **_progress_context(run),
        "versions": versions,
        "version": version,
        "version_sections": [
            {
                "section": s,
                "comments": [c for c in comments if c.section_key == s.key],
                "edit_form": None,
                "open": open_by_key[s.key],
                "accepted": _accepted(s),
            }
            for s in sections
        ],
        "open_count": flag_count(o for found in open_by_key.values() for o in found),
        "general_comments": [c for c in comments if not c.section_key],
        "comment_form": CommentForm(),
        "can_edit": attorney and latest is not None and latest.approved_at is None,
        "is_latest": version is not None and latest is not None and version.pk == latest.pk,
        "can_approve": attorney and version is not None and version.pk == getattr(latest, "pk", None),
        "can_export": attorney and version is not None,
        "latest_number": latest.number if latest else None,
    }
    return render(request, "generation/run_detail.html", context)


def _accepted(section: DraftSection) -> list[dict[str, object]]:
    """The section's sentences the attorney accepted despite a flag, with who did and why."""
    accepted = []
    for index, sentence in enumerate(section.sentences):
        resolutions = [f["resolved"] for f in sentence.get("flags", []) if f.get("resolved")]
        if resolutions:
            accepted.append({"number": index + 1, "text": sentence["text"], "resolved": resolutions[-1]})
    return accepted


def _section_of(run: DeclarationRun, number: int, key: str) -> DraftSection:
    return get_object_or_404(DraftSection, version__run=run, version__number=number, key=key)


@login_required
def sentence_evidence(
    request: HttpRequest, case_id: int, run_id: int, number: int, key: str, index: int
) -> HttpResponse:
    """Beside the draft: a sentence's facts, flags and judges' remarks, and its cited pages with the
    passage marked."""
    run = _run_for(request, case_id, run_id)
    section = _section_of(run, number, key)
    if not 0 <= index < len(section.sentences):
        raise Http404
    sentence = section.sentences[index]
    facts_by_id = {f["id"]: f for f in section.facts}
    audit.record(request=request, action="view_evidence", obj=section, case=run.case)
    return render(
        request,
        "generation/_evidence.html",
        {
            "case": run.case,
            "sentence": sentence,
            "facts": [facts_by_id[i] for i in sentence.get("facts", []) if i in facts_by_id],
            "pages": cited_pages(run.case, sentence, section.facts),
            "record": cited_record(sentence, section.facts),
        },
    )


@login_required
def run_edit(request: HttpRequest, case_id: int, run_id: int) -> HttpResponse:
    run = _run_for(request, case_id, run_id)
    if not _is_attorney(request):
        raise Http404  # paralegals read drafts and comment; only attorneys change them
    latest = run.latest_version()
    if latest is None:
        messages.error(request, "There is no draft to edit yet.")
        return _back_to_run(run)
    if latest.approved_at is not None:
        messages.error(request, f"Version {latest.number} is approved and frozen; it can no longer be edited.")
        return _back_to_run(run)
    form = DraftEditForm(request.POST or None, version=latest)
    if request.method == "POST" and form.is_valid():
        return _save(request, run, form.texts(), form.cleaned_data["note"])
    if request.method == "GET":
        audit.record(request=request, action="view", obj=latest, case=run.case)
    return render(request, "generation/run_edit.html", {"case": run.case, "run": run, "version": latest, "form": form})


@login_required
@require_POST
def section_edit(request: HttpRequest, case_id: int, run_id: int, key: str) -> HttpResponse:
    """Save one section's new text (edited in place on the draft page) as the next version."""
    run = _run_for(request, case_id, run_id)
    if not _is_attorney(request):
        raise Http404
    form = SectionEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The section text could not be saved: " + form.errors.as_text())
        return _back_to_run(run)
    return _save(request, run, {key: form.cleaned_data["text"]}, form.cleaned_data["note"])


def _save(request: HttpRequest, run: DeclarationRun, texts: dict[str, str], note: str) -> HttpResponse:
    try:
        version = do_save_version(run=run, texts=texts, created_by=current_user(request), note=note)
    except VersionFrozen as exc:
        messages.error(request, str(exc))
        return _back_to_run(run)
    audit.record(request=request, action="edit", obj=version, case=run.case)
    messages.success(request, f"Saved as version {version.number}.")
    return _back_to_run(run)


@login_required
@require_POST
def section_regenerate(request: HttpRequest, case_id: int, run_id: int, key: str) -> HttpResponse:
    run = _run_for(request, case_id, run_id)
    if not _is_attorney(request):
        raise Http404
    try:
        child = do_regenerate_section(run=run, key=key, created_by=current_user(request))
    except VersionFrozen as exc:
        messages.error(request, str(exc))
    else:
        audit.record(request=request, action="regenerate", obj=child, case=run.case)
        messages.success(request, "The section is being redrafted; it will be saved as a new version.")
    return _back_to_run(run)


@login_required
@require_POST
def comment_add(request: HttpRequest, case_id: int, run_id: int) -> HttpResponse:
    """Anyone on the case may comment on a draft."""
    run = _run_for(request, case_id, run_id)
    latest = run.latest_version()
    form = CommentForm(request.POST)
    if latest is None or not form.is_valid():
        messages.error(request, "The comment was not saved: it needs text, and the run a draft.")
        return _back_to_run(run)
    keys = set(latest.sections.values_list("key", flat=True))
    key = form.cleaned_data["section_key"]
    comment = Comment.objects.create(
        run=run,
        version_number=int(request.POST.get("version") or latest.number),
        section_key=key if key in keys else "",
        author=current_user(request),
        text=form.cleaned_data["text"],
    )
    audit.record(request=request, action="comment", obj=comment, case=run.case)
    return _back_to_run(run, comment.version_number)


@login_required
def version_compare(request: HttpRequest, case_id: int, run_id: int) -> HttpResponse:
    run = _run_for(request, case_id, run_id)
    versions = {v.number: v for v in run.versions.all()}
    try:
        a, b = versions[int(request.GET["a"])], versions[int(request.GET["b"])]
    except (KeyError, ValueError):
        messages.error(request, "Choose two versions of this draft to compare.")
        return _back_to_run(run)
    audit.record(request=request, action="compare", obj=b, case=run.case)
    diffs = compare_versions(a, b)
    return render(
        request,
        "generation/compare.html",
        {"case": run.case, "run": run, "a": a, "b": b, "diffs": diffs, "changed": sum(d.changed for d in diffs)},
    )


def _attorney_version(request: HttpRequest, case_id: int, run_id: int, number: int) -> DraftVersion:
    """A version of a run on a case the user sees, for an attorney; 404 for anyone else."""
    run = _run_for(request, case_id, run_id)
    if not _is_attorney(request):
        raise Http404  # paralegals draft and read; approving and exporting are the attorney's
    return get_object_or_404(DraftVersion.objects.select_related("run__case"), run=run, number=number)


@login_required
@require_POST
def version_approve(request: HttpRequest, case_id: int, run_id: int, number: int) -> HttpResponse:
    version = _attorney_version(request, case_id, run_id, number)
    try:
        do_approve_version(version=version, approved_by=current_user(request))
    except (VersionFrozen, FlagsOpen) as exc:
        messages.error(request, str(exc))
    else:
        audit.record(request=request, action="approve", obj=version, case=version.run.case)
        messages.success(request, f"Version {version.number} is approved and frozen.")
    return redirect("generation:run_detail", case_id=case_id, run_id=run_id)


@login_required
@require_POST
def sentence_accept(request: HttpRequest, case_id: int, run_id: int, number: int, key: str, index: int) -> HttpResponse:
    """Accept a flagged sentence as it stands, with a reason, as the next version (the attorney's alone)."""
    version = _attorney_version(request, case_id, run_id, number)
    form = AcceptSentenceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The sentence was not accepted: say why it may stand (a reason is required).")
        return _back_to_run(version.run)
    try:
        new = do_accept_sentence(
            run=version.run,
            number=number,
            key=key,
            index=index,
            reason=form.cleaned_data["reason"],
            accepted_by=current_user(request),
        )
    except (VersionFrozen, NotResolvable) as exc:
        messages.error(request, str(exc))
        return _back_to_run(version.run)
    # The reason is kept on the sentence's flags and in the new version's note, both shown on the draft.
    audit.record(request=request, action="accept_flag", obj=new, case=version.run.case)
    messages.success(request, f"Sentence {index + 1} accepted with your reason; saved as version {new.number}.")
    return _back_to_run(version.run)


@login_required
@require_POST
def sentence_remove(request: HttpRequest, case_id: int, run_id: int, number: int, key: str, index: int) -> HttpResponse:
    """Remove a sentence from the draft, as the next version (the attorney's alone)."""
    version = _attorney_version(request, case_id, run_id, number)
    try:
        new = do_remove_sentence(run=version.run, number=number, key=key, index=index, removed_by=current_user(request))
    except (VersionFrozen, NotResolvable) as exc:
        messages.error(request, str(exc))
        return _back_to_run(version.run)
    audit.record(request=request, action="remove_sentence", obj=new, case=version.run.case)
    messages.success(request, f"Sentence {index + 1} removed; saved as version {new.number}.")
    return _back_to_run(version.run)


_FORMATS = {
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", export.declaration_docx),
    "pdf": ("application/pdf", export.declaration_pdf),
}


def _export(request: HttpRequest, case_id: int, run_id: int, number: int, fmt: str) -> HttpResponse:
    version = _attorney_version(request, case_id, run_id, number)
    content_type, write = _FORMATS[fmt]
    audit.record(request=request, action="export", obj=version, case=version.run.case)
    response = HttpResponse(write(version), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="declaration-run{run_id}-v{number}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def version_export(request: HttpRequest, case_id: int, run_id: int, number: int) -> HttpResponse:
    return _export(request, case_id, run_id, number, "docx")


@login_required
def version_export_pdf(request: HttpRequest, case_id: int, run_id: int, number: int) -> HttpResponse:
    return _export(request, case_id, run_id, number, "pdf")
