"""What was imported from where: the map that makes an import idempotent, and
the imports started from the admin."""

from django.conf import settings
from django.db import models

from chatsite.core.models import BaseModel


class ImportedObject(BaseModel):
    """One object of another system (a Slack user, channel or message) and the
    chatsite object it became. Written in the transaction that writes that
    object, so an import run again, or after an interruption, skips it."""

    source = models.CharField(max_length=20)  # "slack"
    workspace = models.CharField(max_length=100)  # Slack: the team id
    kind = models.CharField(max_length=20)  # user, room, message
    external_id = models.CharField(max_length=200)
    object_id = models.CharField(max_length=64)  # the chatsite object's primary key

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "workspace", "kind", "external_id"], name="imports_object_once")
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.kind} {self.external_id} -> {self.object_id}"


class ImportState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SlackImport(BaseModel):
    """A Slack export uploaded in the admin, imported by a job (imports/jobs.py).
    The archive is deleted once it is imported: it holds the history in plain text."""

    archive = models.FileField(upload_to="imports/slack/", blank=True)
    archive_name = models.CharField(max_length=255, blank=True)
    company_slug = models.SlugField(max_length=100)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=10, choices=ImportState.choices, default=ImportState.QUEUED)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Slack import {self.archive_name or self.pk} ({self.get_state_display()})"
