"""Firms, the people in them, their cases, and the files and pages of each case."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.append_only import AppendOnlyModel, AppendOnlyQuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Firm(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ATTORNEY = "attorney", "Attorney"
    PARALEGAL = "paralegal", "Paralegal"
    OPS_ADMIN = "ops_admin", "Ops admin"


class Membership(models.Model):
    """A user's place in one firm. A user without a membership sees nothing."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    firm = models.ForeignKey(Firm, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    def __str__(self) -> str:
        return f"{self.user} ({self.role} at {self.firm})"


def role_of(user: AbstractBaseUser | AnonymousUser) -> str | None:
    if not user.is_authenticated:
        return None
    membership = Membership.objects.filter(user_id=user.pk).only("role").first()
    return membership.role if membership else None


class CaseType(models.TextChoices):
    VAWA_SPOUSE = "vawa_spouse", "VAWA self-petition (spouse)"
    VAWA_CHILD = "vawa_child", "VAWA self-petition (child)"
    VAWA_PARENT = "vawa_parent", "VAWA self-petition (parent)"
    T_VISA = "t_visa", "T visa"

    @property
    def is_vawa(self) -> bool:
        return self.value.startswith("vawa")


class CaseQuerySet(models.QuerySet["Case"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> CaseQuerySet:
        """The one place that decides who sees a case: same firm, assigned to it, and not ops.

        Ops admins run the machines; they never read case text, so no case is visible to them.
        """
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            Q(firm__memberships__user_id=user.pk)
            & Q(firm__memberships__role__in=[Role.ATTORNEY, Role.PARALEGAL])
            & Q(assignees__id=user.pk)
        ).distinct()


class Case(models.Model):
    firm = models.ForeignKey(Firm, on_delete=models.PROTECT, related_name="cases")
    title = models.CharField(max_length=200)
    case_type = models.CharField(max_length=20, choices=CaseType.choices)
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="assigned_cases", blank=True)
    consent_external = models.BooleanField(
        default=False, help_text="The client consented to redacted text being sent to external models."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["firm", "title"], name="case_title_unique_in_firm")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def client(self) -> Party | None:
        return self.parties.filter(role=PartyRole.CLIENT).first()


class PartyRole(models.TextChoices):
    CLIENT = "client", "Client"
    ABUSER = "abuser", "Abuser"
    TRAFFICKER = "trafficker", "Trafficker"
    CHILD = "child", "Child"
    OTHER = "other", "Other"


class Party(models.Model):
    """A person in the case. Known parties seed the case's PII vault."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="parties")
    role = models.CharField(max_length=20, choices=PartyRole.choices)
    name = models.CharField(max_length=200)
    aliases = models.JSONField(default=list, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    a_number = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=100, blank=True)
    immigration_status = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_role_display()}"


class DocumentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Reading"
    INDEXED = "indexed", "Indexed"
    NEEDS_OCR = "needs_ocr", "Indexed, some pages have no text"
    NEEDS_PASSWORD = "needs_password", "Needs its password"
    REJECTED = "rejected", "Rejected"


class Document(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="documents")
    original_name = models.CharField(max_length=255)
    # Generated name under AFFIANT_STORAGE_DIR; never the uploaded name.
    stored_name = models.CharField(max_length=255, unique=True)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED)
    error = models.TextField(blank=True)
    page_count = models.PositiveIntegerField(default=0)
    pages_done = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now, help_text="When it was last sent to a worker to read")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last started reading it")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="How many times a worker started reading it")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "sha256"], name="document_unique_in_case")]
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return f"document {self.pk}"

    @property
    def is_usable(self) -> bool:
        return self.status in (DocumentStatus.INDEXED, DocumentStatus.NEEDS_OCR)


class Page(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField(help_text="1-based page number in the document")
    text = models.TextField(blank=True)
    needs_ocr = models.BooleanField(default=False, help_text="No text could be read from this page")
    ocr = models.BooleanField(default=False, help_text="The text came from OCR")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="page_unique_number")]
        ordering = ["document_id", "number"]

    def __str__(self) -> str:
        return f"page {self.number} of document {self.document_id}"


class AuditEventQuerySet(AppendOnlyQuerySet["AuditEvent"]):
    pass


class AuditEvent(AppendOnlyModel):
    """Who touched privileged data, when, and how. Rows are only ever inserted.

    Neither the actor nor the case of a row can be deleted (PROTECT): the trail outlives no one it names,
    and a case with a trail is kept, not hard-deleted. Updates and deletes are refused here and, for any
    other code, by triggers in the database (migration 0005). Each row is chained to the one before it by
    hash (`casework.audit`), so a change made while the triggers were down shows (`manage.py verify_audit`).
    A row holds ids, never case text: it outlives a purge of the case it names.
    """

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    # Set by the writer, not on save: the row's hash covers it, so it must be known before the insert.
    at = models.DateTimeField(default=timezone.now, editable=False)
    action = models.CharField(max_length=50)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, related_name="audit_events")
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=50)
    ip = models.GenericIPAddressField(null=True)
    prev_hash = models.CharField(max_length=64, editable=False, help_text="The row_hash of the row before it")
    row_hash = models.CharField(max_length=64, editable=False, help_text="sha256 of prev_hash and this row's fields")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class Chunk(models.Model):
    """A passage of a document for retrieval: its text, where it stands, and its embedding.

    The embedding is kept here so the case's FAISS index can always be rebuilt from the database,
    which is the truth; the index file is a cache of it.
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    page_start = models.PositiveIntegerField()
    page_end = models.PositiveIntegerField()
    text = models.TextField()
    embedding = models.BinaryField(null=True, editable=False, help_text="float32 vector, L2-normalised")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="chunk_unique_ordinal")]
        ordering = ["document_id", "ordinal"]

    def __str__(self) -> str:
        return f"chunk {self.ordinal} of document {self.document_id}"


class PiiFinding(models.Model):
    """Where a piece of personal data stands in a page (offsets into Page.text), and what kind it is.

    The text itself is not copied here: it is read from the page, which holds it already.
    """

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="pii_findings")
    chunk = models.ForeignKey(Chunk, on_delete=models.SET_NULL, null=True, related_name="pii_findings")
    kind = models.CharField(max_length=30)
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    source = models.CharField(max_length=20, help_text="known_party, recognizer or ner")
    score = models.FloatField()

    class Meta:
        ordering = ["page_id", "start"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.start} of page {self.page_id}"

    @property
    def text(self) -> str:
        return self.page.text[self.start : self.end]
