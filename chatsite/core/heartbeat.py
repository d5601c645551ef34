"""The worker's heartbeat: ``manage.py notification_worker`` writes a row every
BEAT_SECONDS from a thread of its own; /readyz on the web processes reads the
newest and reports the worker ``stale`` after CHAT_WORKER_STALE_SECONDS
without one (a warning: the web process still serves).

A row in PostgreSQL rather than a Redis key: every web process sees it, it
survives a Redis restart (which would otherwise make a healthy worker look
gone), and the worker cannot work without PostgreSQL anyway (its queue is
rows), so "the database answers" is part of what a beat proves. The beat
says the process is up and reaches the database; a single send stuck longer
than that is bounded by EMAIL_TIMEOUT and the push timeout, not by this.
"""

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.db.models import Max
from django.utils import timezone

from .models import WorkerHeartbeat

logger = logging.getLogger(__name__)

BEAT_SECONDS = 15.0
FORGET_AFTER = timedelta(days=1)  # rows of workers gone this long are deleted


def stale_after() -> timedelta:
    return timedelta(seconds=settings.CHAT_WORKER_STALE_SECONDS)


def beat(worker: str, *, now: datetime | None = None) -> None:
    """Record that ``worker`` is alive now."""
    now = now or timezone.now()
    WorkerHeartbeat.objects.update_or_create(worker=worker[:100], defaults={"last_seen": now})
    WorkerHeartbeat.objects.filter(last_seen__lt=now - FORGET_AFTER).delete()


def last_seen() -> datetime | None:
    """The newest beat of any worker."""
    return WorkerHeartbeat.objects.aggregate(newest=Max("last_seen"))["newest"]


def status(*, now: datetime | None = None) -> dict:
    """``{"status": "ok" | "stale" | "missing", "last_seen": iso time or None}``."""
    now = now or timezone.now()
    seen = last_seen()
    if seen is None:
        return {"status": "missing", "last_seen": None}
    return {"status": "ok" if now - seen <= stale_after() else "stale", "last_seen": seen.isoformat()}


def run(*, worker: str, stop: threading.Event, interval: float = BEAT_SECONDS) -> None:
    """Beat until ``stop`` is set (the worker command's heartbeat thread). A
    failed beat (the database is away) is logged and tried again next time."""
    while not stop.is_set():
        try:
            beat(worker)
        except Exception:  # noqa: BLE001 - the next beat tries again
            logger.warning("worker heartbeat: could not write it", exc_info=True)
        finally:
            close_old_connections()
        stop.wait(interval)
