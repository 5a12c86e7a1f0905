"""Hosts, models, routes, and the record of every call and every hang."""

from __future__ import annotations

from datetime import timedelta

from django.db import models

from config.append_only import AppendOnlyModel, AppendOnlyQuerySet


class HostKind(models.TextChoices):
    LLAMACPP = "llamacpp", "Managed llama.cpp"
    OLLAMA = "ollama", "Ollama"
    OPENAI = "openai", "OpenAI-compatible"
    BEDROCK = "bedrock", "Amazon Bedrock"


class Host(models.Model):
    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=20, choices=HostKind.choices)
    url = models.CharField(max_length=300, blank=True, help_text="Base URL; for llamacpp, its supervisor")
    external = models.BooleanField(default=False, help_text="Outside the firm: sees only redacted text")
    queue_name = models.CharField(max_length=60, blank=True, help_text="Overrides the default queue")
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable holding the API key (never the key)"
    )
    headers = models.JSONField(default=dict, blank=True, help_text="Extra HTTP headers, e.g. OpenRouter's X-Title")
    region = models.CharField(max_length=40, blank=True, help_text="bedrock: AWS region (else from the environment)")
    memory_budget_mb = models.PositiveIntegerField(
        null=True, blank=True, help_text="Memory the host's models may use together (default: its GPUs' total)"
    )
    dispatch = models.CharField(
        max_length=10,
        choices=[("fifo", "In arrival order"), ("grouped", "Grouped by model (fewer swaps)")],
        default="fifo",
        help_text="Grouped: waiting calls for the model just used go first, within a bounded wait",
    )
    restart_command = models.CharField(
        max_length=300, blank=True, help_text="Run on the GPU box when an unload does not free memory"
    )
    enabled = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name

    @property
    def queue(self) -> str:
        """Each local host has its own GPU queue; API providers share `api`."""
        if self.queue_name:
            return self.queue_name
        return "api" if self.external or self.kind == HostKind.BEDROCK else f"gpu.{self.name}"


class LLMModel(models.Model):
    name = models.SlugField(max_length=80, unique=True)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="models")
    remote_name = models.CharField(max_length=200)
    context_length = models.PositiveIntegerField()
    max_output_tokens = models.PositiveIntegerField()
    first_token_timeout_s = models.FloatField(help_text="Includes loading the model")
    stall_timeout_s = models.FloatField(help_text="Longest gap between two tokens")
    total_timeout_s = models.FloatField()
    keep_alive = models.CharField(max_length=20, blank=True)
    gguf = models.CharField(max_length=500, blank=True, help_text="llamacpp: file path or pkg:<package>")
    expected_vram_mb = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    circuit_reset_at = models.DateTimeField(
        null=True, blank=True, help_text="Failures before this moment no longer count against the model"
    )

    class Meta:
        verbose_name = "model"

    def __str__(self) -> str:
        return self.name


class Route(models.Model):
    """A pipeline stage and the ordered models that may serve it."""

    name = models.SlugField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name

    def ordered_models(self) -> list[LLMModel]:
        return [entry.model for entry in self.entries.select_related("model__host").order_by("position")]


class RouteEntry(models.Model):
    route = models.ForeignKey(Route, on_delete=models.CASCADE, related_name="entries")
    model = models.ForeignKey(LLMModel, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["route", "position"], name="route_entry_position")]
        ordering = ["route_id", "position"]

    def __str__(self) -> str:
        return f"{self.route_id}#{self.position}"


class CallStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class LLMCallQuerySet(models.QuerySet["LLMCall"]):
    def unfinished(self) -> LLMCallQuerySet:
        return self.filter(status__in=[CallStatus.QUEUED, CallStatus.RUNNING])


class LLMCall(models.Model):
    """One attempt at one completion on one model. A failover is a new row pointing at this one.

    `messages` and `output` are privileged case text: they are stored for the pipeline and never
    logged, never shown on ops pages.
    """

    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, related_name="calls")
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="calls")
    route = models.ForeignKey(Route, on_delete=models.SET_NULL, null=True, related_name="calls")
    stage = models.CharField(max_length=50)
    label = models.CharField(max_length=200, blank=True, help_text="Caller's reference; no case text")
    status = models.CharField(max_length=20, choices=CallStatus.choices, default=CallStatus.QUEUED)
    attempt = models.PositiveSmallIntegerField(default=1)
    failed_over_from = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="failed_over_to"
    )

    messages = models.JSONField()
    max_tokens = models.PositiveIntegerField()
    temperature = models.FloatField(default=0.2)
    json_schema = models.JSONField(null=True, blank=True)
    stop = models.JSONField(default=list, blank=True, help_text="Stop sequences")
    output = models.TextField(blank=True)
    callback = models.JSONField(null=True, blank=True, help_text="{task, kwargs} sent when the call ends")
    allow_external = models.BooleanField(
        default=False, help_text="The caller allows hosts outside the firm (the client consented)"
    )
    redactor = models.JSONField(
        null=True, blank=True, help_text="{path, kwargs} of the redactor for external hosts, given by the caller"
    )

    queued_at = models.DateTimeField(auto_now_add=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="A retry's backoff: not to start before")
    started_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="The Celery worker that took the call")
    worker_pid = models.PositiveIntegerField(null=True, blank=True, help_text="That worker's main process")
    worker_child_pid = models.PositiveIntegerField(
        null=True, blank=True, help_text="The pool process that ran it, a child of the main process"
    )
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    n_ctx = models.PositiveIntegerField(null=True, blank=True)
    load_s = models.FloatField(null=True, blank=True, help_text="Loading the model, as the host reports it")
    prompt_eval_s = models.FloatField(null=True, blank=True)
    generation_s = models.FloatField(null=True, blank=True)
    done_reason = models.CharField(max_length=30, blank=True)
    error_kind = models.CharField(max_length=30, blank=True)
    error = models.TextField(blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="The host's own timings, if it reports them")

    objects = LLMCallQuerySet.as_manager()

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["status", "queued_at"]), models.Index(fields=["model", "queued_at"])]

    def __str__(self) -> str:
        return f"call {self.pk} ({self.stage} on {self.model_id})"

    def chain(self) -> list[LLMCall]:
        """This call and the calls it failed over from, newest first."""
        calls: list[LLMCall] = [self]
        while calls[-1].failed_over_from_id is not None and len(calls) < 50:
            previous = calls[-1].failed_over_from
            assert previous is not None
            calls.append(previous)
        return calls

    @property
    def queue_wait(self) -> timedelta | None:
        return self.started_at - self.queued_at if self.started_at else None

    @property
    def time_to_first_token(self) -> timedelta | None:
        return self.first_token_at - self.started_at if self.first_token_at and self.started_at else None

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at and self.started_at else None

    @property
    def tokens_per_second(self) -> float | None:
        if not (self.output_tokens and self.first_token_at and self.finished_at):
            return None
        seconds = (self.finished_at - self.first_token_at).total_seconds()
        return round(self.output_tokens / seconds, 1) if seconds > 0 else None


class HangKind(models.TextChoices):
    FIRST_TOKEN_TIMEOUT = "first_token_timeout", "No first token in time"
    STALL = "stall", "Stalled between tokens"
    TOTAL_TIMEOUT = "total_timeout", "Past the total deadline"
    LOOP = "loop", "Repeating itself"
    SOFT_LIMIT = "soft_limit", "Celery soft time limit"
    HARD_LIMIT = "hard_limit", "Celery hard time limit"
    HOST_ERROR = "host_error", "Host error"
    OOM = "oom", "Out of memory"
    DISCONNECT = "disconnect", "Connection dropped"
    UNLOAD_STUCK = "unload_stuck", "Unload did not free memory"
    TRUNCATED = "truncated", "Prompt truncated by the host"
    WORKER_LOST = "worker_lost", "Worker died mid-call"
    REFUSED = "refused", "Refused the request"


class HangAction(models.TextChoices):
    RETRIED = "retried", "Retried"
    FAILED_OVER = "failed_over", "Failed over"
    FAILED = "failed", "Failed"
    ESCALATED = "escalated", "Escalated"


class HangEvent(models.Model):
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=30, choices=HangKind.choices)
    call = models.ForeignKey(LLMCall, on_delete=models.SET_NULL, null=True, related_name="hangs")
    model = models.ForeignKey(LLMModel, on_delete=models.SET_NULL, null=True, related_name="+")
    host = models.ForeignKey(Host, on_delete=models.SET_NULL, null=True, related_name="+")
    stage = models.CharField(max_length=50, blank=True)
    detected_after_s = models.FloatField()
    action = models.CharField(max_length=20, choices=HangAction.choices)
    detail = models.CharField(max_length=300, blank=True, help_text="Never case text")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.model_id}"


class ProcessStatus(models.TextChoices):
    STARTING = "starting", "Starting"
    READY = "ready", "Ready"
    STOPPED = "stopped", "Stopped"
    DIED = "died", "Died"


class ManagedProcess(models.Model):
    """A llama.cpp server process owned by a host's model supervisor."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="processes")
    model = models.ForeignKey(LLMModel, on_delete=models.CASCADE, related_name="processes")
    pid = models.PositiveIntegerField()
    pgid = models.PositiveIntegerField()
    port = models.PositiveIntegerField()
    n_ctx = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=ProcessStatus.choices, default=ProcessStatus.STARTING)
    rss_bytes = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_id} pid {self.pid}"


class WorkerHeartbeat(models.Model):
    """The latest word from one GPU worker: its GPUs and what its host has resident. One row per worker."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="heartbeats")
    worker = models.CharField(max_length=200, help_text="Celery's worker name, e.g. gpu-local@box1")
    pid = models.PositiveIntegerField()
    at = models.DateTimeField()
    started_at = models.DateTimeField()
    gpus = models.JSONField(
        null=True, blank=True, help_text="[{index, name, used_bytes, total_bytes, utilization_pct}]; null: no GPU"
    )
    residents = models.JSONField(default=list, blank=True, help_text="What the host says is loaded")
    residency_error = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["host", "worker"], name="heartbeat_unique_worker")]
        ordering = ["host__name", "worker"]

    def __str__(self) -> str:
        return self.worker


class GpuSample(models.Model):
    """Used memory and utilisation of one GPU at one heartbeat; pruned after the retention window."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="gpu_samples")
    gpu_index = models.PositiveSmallIntegerField()
    at = models.DateTimeField(db_index=True)
    used_mb = models.PositiveIntegerField()
    total_mb = models.PositiveIntegerField()
    utilization_pct = models.PositiveSmallIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["host", "gpu_index", "at"])]
        ordering = ["at"]

    def __str__(self) -> str:
        return f"gpu {self.gpu_index} of {self.host_id} at {self.at}"


OUTCOME_MAX_LENGTH = 300


class OpsActionQuerySet(AppendOnlyQuerySet["OpsAction"]):
    def record_outcome(self, action_id: int, outcome: str) -> bool:
        """Fill in what an action came to, once; False when it was filled in already (a redelivered task).

        The one write an ops action's row ever gets: the database trigger (migration 0009) allows an
        UPDATE only when it sets an empty outcome and changes nothing else.
        """
        unfilled = self.filter(pk=action_id, outcome="")
        return models.QuerySet.update(unfilled, outcome=outcome[:OUTCOME_MAX_LENGTH]) == 1


class OpsAction(AppendOnlyModel):
    """An ops admin's action on the machinery (unload, restart, circuit reset). Rows are only inserted.

    The actor, host and model of a row cannot be deleted (PROTECT), as for the calls a model made. Only
    the outcome is written later, once, when the action has run (`record_outcome`).
    """

    actor = models.ForeignKey("auth.User", on_delete=models.PROTECT, null=True, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=30)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, null=True, related_name="+")
    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, null=True, related_name="+")
    ip = models.GenericIPAddressField(null=True)
    outcome = models.CharField(
        max_length=OUTCOME_MAX_LENGTH, blank=True, help_text="Filled in once, when the action has run"
    )

    objects = OpsActionQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_id}"


class TaskDelivery(models.Model):
    """A Celery task message that a worker started and has not finished: counted each time it is
    delivered, removed when it ends. One left behind by a killed worker counts up with each
    redelivery; past AFFIANT_TASK_MAX_DELIVERIES it is quarantined (kept here, not run again) instead
    of killing worker after worker. Only the ids among its arguments are kept: arguments may be private.
    """

    task_id = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=200)
    ids = models.JSONField(default=list, blank=True, help_text="The integer arguments (object ids), for ops")
    deliveries = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField(auto_now_add=True)
    last_at = models.DateTimeField(auto_now=True)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that took the last delivery")
    quarantined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_at", "-id"]
        indexes = [models.Index(fields=["quarantined_at"])]

    def __str__(self) -> str:
        return f"{self.name} {self.task_id}, delivered {self.deliveries} times"
