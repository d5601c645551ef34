"""The notification queue as Prometheus sees it at each scrape (chatsite/core/metrics_http.py):
how many rows are due and how old the oldest due one is. Read through the
partial index on ``due_at`` of pending rows, capped, under the scrape's
statement timeout."""

from chatsite.core import metrics
from chatsite.core.metrics_http import queue_families, register_scrape_collector

from ..models import Notification, NotificationChannel, NotificationState


def notification_queue(now) -> list:
    due = Notification.objects.filter(state=NotificationState.PENDING, due_at__lte=now)
    return queue_families("notifications", "pending notification rows", due, now)


def register() -> None:
    register_scrape_collector(notification_queue)
    metrics.declare(
        metrics.NOTIFICATIONS,
        *((channel, outcome) for channel in NotificationChannel.values for outcome in metrics.NOTIFICATION_OUTCOMES),
    )
