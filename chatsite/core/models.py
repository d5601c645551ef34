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
