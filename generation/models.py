"""Declaration runs, their sections, and the versions of the draft they produce."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from casework.models import Case


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class DeclarationRun(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="runs")
    template = models.CharField(max_length=20)
    template_version = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in (RunStatus.COMPLETED, RunStatus.FAILED)

    def latest_version(self) -> DraftVersion | None:
        return self.versions.order_by("-number").first()


class SectionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DRAFTING = "drafting", "Drafting"
    DRAFTED = "drafted", "Drafted"
    MISSING = "missing", "Needs the attorney"
    FAILED = "failed", "Failed"


class RunSection(models.Model):
    """One section of a run's template, and the call that drafted it."""

    run = models.ForeignKey(DeclarationRun, on_delete=models.CASCADE, related_name="sections")
    key = models.CharField(max_length=50)
    heading = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=SectionStatus.choices, default=SectionStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Drafting requests made for this section")
    call = models.ForeignKey("llmops.LLMCall", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    evidence = models.JSONField(default=list, blank=True, help_text="[{document_id, page, score}] used for the draft")
    text = models.TextField(blank=True)
    note = models.TextField(blank=True, help_text="For the attorney: what is missing or went wrong")

    class Meta:
        ordering = ["run_id", "order"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="run_section_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} of run {self.run_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in (SectionStatus.DRAFTED, SectionStatus.MISSING, SectionStatus.FAILED)


class DraftVersion(models.Model):
    """A saved state of the whole draft. Versions are only ever added, never changed."""

    run = models.ForeignKey(DeclarationRun, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for the version the pipeline drafted",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True, help_text="An approved version is frozen")

    class Meta:
        ordering = ["run_id", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="draft_version_unique_number")]

    def __str__(self) -> str:
        return f"version {self.number} of run {self.run_id}"


class DraftSection(models.Model):
    version = models.ForeignKey(DraftVersion, on_delete=models.CASCADE, related_name="sections")
    key = models.CharField(max_length=50)
    heading = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField()
    text = models.TextField(blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["version_id", "order"]

    def __str__(self) -> str:
        return f"{self.key} of version {self.version_id}"
