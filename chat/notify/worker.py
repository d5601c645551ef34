"""The notification worker: sends due Notification rows by Web Push and email.

The rows are the queue (chat/services/notifications.py writes them with the
message). Each send is one transaction: claim the rows with
``SELECT … FOR UPDATE SKIP LOCKED``, check they are still wanted, send while
holding the row locks, record the outcome, commit. So

- two workers never send a row twice: the second skips the locked rows, and
  by the time it could lock them they are no longer pending;
- a worker killed at any point loses nothing: PostgreSQL rolls its open
  transaction back and releases the locks, and the rows are pending again;
- the only window for a duplicate is between the mail server's (or push
  service's) "accepted" and our COMMIT a moment later. No SMTP server can be
  asked "did you already get this?", so that much is at-least-once.

One transaction per email (all of one user's due email rows: one email per
user per pass) and per push row, not per pass: a crash then repeats nothing
already committed, and a slow mail server holds few locks.

Rows are re-checked at send time, because a lot can change during an email's
delay: the user read the room (or is back online, for push), muted it, left
it, blocked the sender, was deactivated, or the message was deleted.
"""

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core import mail
from django.db import close_old_connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import UserBlock
from chatsite.core import metrics

from .. import presence
from ..models import (
    ChatMember,
    MessageMention,
    Notification,
    NotificationChannel,
    NotificationPreferences,
    NotificationReason,
    NotificationState,
    NotifyLevel,
    RoomType,
    ThreadFollow,
    default_notify_level,
)
from . import email as notification_email
from . import push

logger = logging.getLogger(__name__)

# Seconds before the next try of a failed send, by attempts so far (the last repeats).
RETRY_BACKOFF = (60, 300, 900, 3600)
OUTCOMES = ("sent", "skipped", "cancelled", "failed", "retrying")
FINAL_STATES = {NotificationState.SENT, NotificationState.SKIPPED, NotificationState.FAILED}


def retry_delay(attempts: int) -> timedelta:
    return timedelta(seconds=RETRY_BACKOFF[min(attempts, len(RETRY_BACKOFF)) - 1])


def process_due(*, now: datetime | None = None, limit: int = 200, stop: threading.Event | None = None) -> dict:
    """Send what is due at ``now`` (at most about ``limit`` rows), and return how
    many rows ended in each outcome: ``sent``, ``skipped``, ``cancelled``,
    ``failed``, ``retrying`` (a failed send that will be tried again), plus
    ``emails`` (emails sent) and ``due`` (rows that were due when the pass began).

    Safe to run in several processes at once. Never raises for one bad row or
    one failed send: those are recorded on their rows and the pass goes on.
    ``stop`` ends the pass between two sends (what is left stays pending).
    """
    now = now or timezone.now()
    counts = Counter(dict.fromkeys((*OUTCOMES, "emails"), 0))
    # Read without locks: only the order of work. Each group is claimed (and
    # re-read) under its lock below, and skipped if another worker has it.
    due = list(
        Notification.objects.filter(state=NotificationState.PENDING, due_at__lte=now)
        .order_by("due_at", "pk")
        .values_list("pk", "user_id", "channel")[:limit]
    )
    counts["due"] = len(due)
    if not due:
        return dict(counts)
    # Without presence (Redis away) nobody counts as online: a push too many is
    # better than a notification lost.
    online = presence.online_blocking({user_id for _, user_id, channel in due if channel == NotificationChannel.PUSH})
    connection = mail.get_connection()
    emailed: set = set()
    try:
        for row_id, user_id, channel in due:
            if stop is not None and stop.is_set():
                break
            if channel == NotificationChannel.EMAIL:
                if user_id in emailed:
                    continue
                emailed.add(user_id)
                pending = Notification.objects.filter(
                    user_id=user_id, channel=NotificationChannel.EMAIL, state=NotificationState.PENDING, due_at__lte=now
                )
                work = partial(_send_email, now=now, connection=connection, counts=counts)
                _guarded(pending, now=now, counts=counts, work=work, limit=limit)
            else:
                pending = Notification.objects.filter(pk=row_id, state=NotificationState.PENDING, due_at__lte=now)
                work = partial(_send_push, now=now, online=online, counts=counts)
                _guarded(pending, now=now, counts=counts, work=work, limit=1)
    finally:
        _close_quietly(connection)
    if any(counts[outcome] for outcome in OUTCOMES):
        # Counts only: never who, what or where.
        logger.info(
            "notifications: %(emails)d emails sent; rows: %(sent)d sent, %(skipped)d skipped, "
            "%(cancelled)d cancelled, %(retrying)d to retry, %(failed)d failed",
            counts,
        )
    return dict(counts)


def run(*, poll_seconds: float, stop: threading.Event, limit: int = 200) -> None:
    """Pass after pass until ``stop`` is set; waits ``poll_seconds`` between passes
    unless the last one was full (then there is more to do at once).

    A pass that fails as a whole (the database is away) is logged and tried
    again after the poll interval: the worker outlives short outages.
    """
    while not stop.is_set():
        close_old_connections()
        try:
            counts = process_due(limit=limit, stop=stop)
        except Exception:
            logger.exception("notification worker: the pass failed; trying again in %s s", poll_seconds)
            counts = {}
        finally:
            close_old_connections()
        full = counts.get("due", 0) >= limit and any(counts.get(outcome) for outcome in OUTCOMES)
        if not full:  # a full pass that got somewhere: more is due, go on at once
            stop.wait(poll_seconds)


# --- one group: claim, check, send, record ------------------------------------------------------
def _claim(pending: QuerySet, *, limit: int) -> list[Notification]:
    """Lock the pending rows nobody else holds; the claim ends with the transaction."""
    return list(
        pending.select_for_update(skip_locked=True, of=("self",))
        .select_related("user", "room", "message", "message__sender")
        .order_by("due_at", "pk")[:limit]
    )


def _guarded(pending: QuerySet, *, now: datetime, counts: Counter, work, limit: int) -> None:
    """Claim ``pending`` and hand the rows still wanted to ``work``, all in one
    transaction. Whatever goes wrong stays with these rows (a retry later), never
    stops the pass."""
    try:
        with transaction.atomic():
            rows = _claim(pending, limit=limit)
            if rows:
                wanted = _still_wanted(rows, counts=counts)
                if wanted:
                    work(wanted)
    except Exception as exc:
        logger.exception("notification worker: a group of rows failed")
        _record_crash(pending, error=exc, now=now, counts=counts)


def _still_wanted(rows: Sequence[Notification], *, counts: Counter) -> list[Notification]:
    """The rows to send; the others are cancelled (saved) with the reason in last_error."""
    user_ids = {row.user_id for row in rows}
    members = {
        (member.room_id, member.user_id): member
        for member in ChatMember.objects.filter(room_id__in={row.room_id for row in rows}, user_id__in=user_ids)
    }
    sender_ids = {row.message.sender_id for row in rows} - {None}
    blocked = set()
    if sender_ids:
        for blocker_id, blocked_id in UserBlock.objects.filter(
            Q(blocker_id__in=user_ids, blocked_id__in=sender_ids) | Q(blocker_id__in=sender_ids, blocked_id__in=user_ids)
        ).values_list("blocker_id", "blocked_id"):
            blocked |= {(blocker_id, blocked_id), (blocked_id, blocker_id)}
    mentioned = set(
        MessageMention.objects.filter(message_id__in={row.message_id for row in rows}, user_id__in=user_ids).values_list(
            "message_id", "user_id"
        )
    )
    follows = {
        (root_id, user_id): (following, last_read_seq)
        for root_id, user_id, following, last_read_seq in ThreadFollow.objects.filter(
            root_id__in={row.message.thread_id for row in rows if _in_thread_only(row.message)}, user_id__in=user_ids
        ).values_list("root_id", "user_id", "following", "last_read_seq")
    }
    email_off = set()
    if any(row.channel == NotificationChannel.EMAIL for row in rows):
        email_off = set(
            NotificationPreferences.objects.filter(user_id__in=user_ids, email_enabled=False).values_list("user_id", flat=True)
        )
    wanted = []
    for row in rows:
        reason = _unwanted_because(
            row,
            member=members.get((row.room_id, row.user_id)),
            blocked=blocked,
            mentioned=mentioned,
            follows=follows,
            email_off=email_off,
        )
        if reason is None:
            wanted.append(row)
        else:
            _finish(row, state=NotificationState.CANCELLED, note=reason, counts=counts, counted_as="cancelled")
    return wanted


def _unwanted_because(
    row: Notification, *, member: ChatMember | None, blocked: set, mentioned: set, follows: dict, email_off: set
) -> str | None:
    """Why ``row`` is no longer wanted, or None. The same rules that decided to write it."""
    message = row.message
    if not row.user.is_active:
        return "user deactivated"
    if member is None or not member.is_active:
        return "not a member"
    if member.notifications_muted:
        return "room muted"
    level = member.notify_level or default_notify_level(row.room.room_type)
    if level == NotifyLevel.NOTHING:
        return "level nothing"
    if message.is_deleted:
        return "message deleted"
    if message.sender_id is not None and (row.user_id, message.sender_id) in blocked:
        return "blocked"
    if row.reason == NotificationReason.THREAD:
        # A reply in a thread they follow: read and followed in the thread itself.
        following, last_read_seq = follows.get((message.thread_id, row.user_id), (False, 0))
        if not following:
            return "not following"
        if message.seq <= last_read_seq:
            return "read"
        return "email off" if row.channel == NotificationChannel.EMAIL and row.user_id in email_off else None
    if _in_thread_only(message):
        # A reply the room does not show is read in its thread, not in the room.
        if message.seq <= follows.get((message.thread_id, row.user_id), (None, 0))[1]:
            return "read"
    elif message.seq <= member.last_read_seq:
        return "read"
    if level == NotifyLevel.MENTIONS and row.room.room_type != RoomType.DIRECT and (message.pk, row.user_id) not in mentioned:
        # The level changed since, or an edit took the mention out.
        return "not mentioned"
    if row.channel == NotificationChannel.EMAIL and row.user_id in email_off:
        return "email off"
    return None


def _in_thread_only(message) -> bool:
    return message.thread_id is not None and not message.also_in_room


def _send_email(rows: list[Notification], *, now: datetime, connection, counts: Counter) -> None:
    """One email for all of one user's rows; on failure they are retried together."""
    user = rows[0].user
    if not user.email:
        for row in rows:
            _finish(row, state=NotificationState.SKIPPED, note="no email address", counts=counts, counted_as="skipped")
        return
    try:
        message = notification_email.compose(user=user, notifications=rows)
        connection.open()  # no-op while open; reconnects after a failure closed it
        if connection.send_messages([message]) != 1:
            raise RuntimeError("the email backend sent nothing")
    except Exception as exc:  # noqa: BLE001 - any failure of this send is retried later; the pass goes on
        _close_quietly(connection)
        logger.warning("notification email failed (%s rows): %s", len(rows), type(exc).__name__)
        _retry_later(rows, error=exc, now=now, counts=counts)
        return
    counts["emails"] += 1
    for row in rows:
        row.attempts += 1
        _finish(row, state=NotificationState.SENT, sent_at=now, counts=counts, counted_as="sent")


def _send_push(rows: list[Notification], *, now: datetime, online: set, counts: Counter) -> None:
    """Push only to someone with no open socket: the browser tab notifies them itself."""
    (row,) = rows
    if str(row.user_id) in online:
        _finish(row, state=NotificationState.SKIPPED, note="online", counts=counts, counted_as="skipped")
        return
    try:
        state = push.deliver(row)  # through the module, so tests can stand in for it
    except Exception as exc:  # noqa: BLE001 - a push service failure of any kind is retried later
        logger.warning("push notification failed: %s", type(exc).__name__)
        _retry_later([row], error=exc, now=now, counts=counts)
        return
    if state not in FINAL_STATES:
        state = NotificationState.FAILED
    if state == NotificationState.FAILED:
        # Every subscription failed (a push service down, a 5xx): try again later.
        _retry_later([row], error=RuntimeError(row.last_error or "every push subscription failed"), now=now, counts=counts)
        return
    row.attempts += 1
    _finish(row, state=state, note=row.last_error, sent_at=now if state == NotificationState.SENT else None, counts=counts, counted_as=str(state))


def _finish(row: Notification, *, state: str, counts: Counter, counted_as: str, note: str = "", sent_at: datetime | None = None) -> None:
    row.state = state
    row.last_error = (note or "")[:300]
    row.sent_at = sent_at
    row.save(update_fields=["state", "attempts", "last_error", "sent_at", "updated_at"])
    counts[counted_as] += 1
    metrics.notification(row.channel, counted_as)


def _retry_later(rows: Sequence[Notification], *, error: BaseException, now: datetime, counts: Counter) -> None:
    """One more failed attempt: back off, or give up after CHAT_NOTIFICATION_MAX_ATTEMPTS."""
    note = f"{type(error).__name__}: {error}"[:300]
    for row in rows:
        row.attempts += 1
        row.last_error = note
        if row.attempts >= settings.CHAT_NOTIFICATION_MAX_ATTEMPTS:
            row.state = NotificationState.FAILED
            counts["failed"] += 1
            metrics.notification(row.channel, "failed")
        else:
            row.due_at = now + retry_delay(row.attempts)
            counts["retrying"] += 1
            metrics.notification(row.channel, "retrying")
        row.save(update_fields=["state", "attempts", "last_error", "due_at", "updated_at"])


def _record_crash(pending: QuerySet, *, error: BaseException, now: datetime, counts: Counter) -> None:
    """A group failed outside a send (a bug, bad data): count an attempt on its
    rows in a transaction of its own, so they do not fail again on every poll."""
    try:
        with transaction.atomic():
            rows = _claim(pending, limit=1000)
            _retry_later(rows, error=error, now=now, counts=counts)
    except Exception:
        logger.exception("notification worker: could not record the failure either")


# --- around the sends ---------------------------------------------------------------------------
def _close_quietly(connection) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001, S110 - a connection that is already broken is closed enough
        pass
