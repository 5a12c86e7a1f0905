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
    template_spec = models.JSONField(
        default=dict, blank=True, help_text="The template's sections as this run drafted them (templates change)"
    )
    regenerates = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="regenerations",
        help_text="Set on a run that redrafts one section of another run's draft",
    )

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


class Stage(models.TextChoices):
    """The five stages a section goes through, in order."""

    EXTRACT = "extract", "Extracting facts"
    DRAFT = "draft", "Drafting"
    JUDGE = "judge", "Judging"
    GUARDRAILS = "guardrails", "Guardrails"
    SCORE = "score", "Scoring support"
    DONE = "done", "Done"


STAGE_ORDER = [Stage.EXTRACT, Stage.DRAFT, Stage.JUDGE, Stage.GUARDRAILS, Stage.SCORE, Stage.DONE]


class RunSection(models.Model):
    """One section of a run's template, as its stages leave it; the work itself is in its steps."""

    run = models.ForeignKey(DeclarationRun, on_delete=models.CASCADE, related_name="sections")
    key = models.CharField(max_length=50)
    heading = models.CharField(max_length=200)
    order = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=SectionStatus.choices, default=SectionStatus.PENDING)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.EXTRACT)
    evidence = models.JSONField(
        default=list, blank=True, help_text="[{n, chunk_id, document_id, document_name, page, score}] retrieved"
    )
    facts = models.JSONField(default=list, blank=True, help_text="[{id, need, text, chunk_id, document_id, page}]")
    missing = models.JSONField(default=list, blank=True, help_text="What the section needs and the evidence lacks")
    sentences = models.JSONField(default=list, blank=True, help_text="[{text, facts, chunks, flags, bertscore}]")
    judgement = models.JSONField(default=dict, blank=True, help_text="The judges' scores, aggregated")
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


class StepStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SectionStep(models.Model):
    """One piece of work of a section in one stage: an LLM call (or, for scoring, a task) and its result.

    A step exists once per (section, stage, slot) — the database refuses a second — and its result is
    taken in once: a redelivered callback or a resumed run finds it done and moves on.
    """

    section = models.ForeignKey(RunSection, on_delete=models.CASCADE, related_name="steps")
    stage = models.CharField(max_length=20, choices=Stage.choices)
    slot = models.PositiveSmallIntegerField(default=0, help_text="The judge's slot; 0 for other stages")
    route = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.WAITING)
    attempts = models.PositiveSmallIntegerField(default=0)
    call = models.ForeignKey("llmops.LLMCall", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["section_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["section", "stage", "slot"], name="section_step_once_per_stage_slot")
        ]

    def __str__(self) -> str:
        return f"{self.stage}/{self.slot} of section {self.section_id}"


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
    sentences = models.JSONField(default=list, blank=True, help_text="[{text, facts, chunks, flags, bertscore}]")
    facts = models.JSONField(default=list, blank=True)
    missing = models.JSONField(default=list, blank=True)
    judgement = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["version_id", "order"]

    def __str__(self) -> str:
        return f"{self.key} of version {self.version_id}"


class Comment(models.Model):
    """A remark on a run's draft, by anyone on the case; it stays with the run across versions."""

    run = models.ForeignKey(DeclarationRun, on_delete=models.CASCADE, related_name="comments")
    version_number = models.PositiveIntegerField(help_text="The version shown when the comment was written")
    section_key = models.CharField(max_length=50, blank=True, help_text="Empty for the whole draft")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment {self.pk} on run {self.run_id}"
