"""The project's base model (UUID primary keys and timestamps) and the rate limiter's log."""

import uuid

from django.conf import settings
from django.db import models


class BaseModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class RateLimitLog(BaseModel):
    """Rejected requests, one row per user, room, kind and window (not one per request)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The room a rejected write was aimed at: a lazy reference (no import of chat).
    room = models.ForeignKey("chat.ChatRoom", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Anonymous rejections (login, register) are keyed by client address.
    client_key = models.CharField(max_length=64, blank=True)
    event_type = models.CharField(max_length=40)
    window_start = models.DateTimeField()
    window_seconds = models.PositiveIntegerField()
    count = models.PositiveIntegerField(default=0)
    # Digest of (user, room, client_key, event_type, window_start): the row's identity.
    bucket = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        db_table = "chat_ratelimitlog"  # created by chat's first migration; moved here in 0002
        indexes = [models.Index(fields=["-window_start"], name="chat_ratelimitlog_window_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} x{self.count}"


class JobState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Job(BaseModel):
    """Long work off the request path (an export, an import, a preview), run by
    the worker process (chatsite/core/jobs.py). The row is the queue: claimed
    with SKIP LOCKED, held by a lease the worker renews, resumed from its
    checkpoint by the next worker when the lease runs out (a worker that died)."""

    kind = models.CharField(max_length=60)
    payload = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0–100")
    checkpoint = models.JSONField(default=dict, blank=True, help_text="Where the work got to: a restart goes on from here.")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the result (a file to download) is deleted by the retention command.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], condition=models.Q(state="pending"), name="core_job_due_idx"),
            models.Index(fields=["lease_until"], condition=models.Q(state="running"), name="core_job_lease_idx"),
            models.Index(fields=["owner", "kind", "-created_at"], name="core_job_owner_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.state}, {self.progress}%)"


class WorkerHeartbeat(models.Model):
    """When a worker process (``manage.py notification_worker``) last said it
    was alive: one row per process, written every few seconds
    (chatsite/core/heartbeat.py) and read by /readyz."""

    worker = models.CharField(max_length=100, primary_key=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} at {self.last_seen:%Y-%m-%d %H:%M:%S}"
