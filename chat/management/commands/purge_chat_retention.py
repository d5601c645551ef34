"""Retention: purge the content of long-deleted messages and old room events.

1. Soft-deleted messages whose ``deleted_at`` is older than ``--deleted-days``
   lose their content for good: it becomes the encryption of "", their edit
   history and search tokens are deleted and ``content_purged_at`` is set (a
   purged message can no longer be restored).
   Their mentions go with the content (the encrypted list and the per-person
   index rows).
2. Room events older than ``--event-days`` are deleted from the front of each
   room's log, and ``ChatRoom.events_purged_through`` records how far, so the
   remaining log stays contiguous (``events_purged_through + 1 .. room.seq``)
   and a client syncing from before it is told to resync. An event newer than
   the cutoff is never deleted, nor anything after it.
3. Notification rows that are done (sent, cancelled, skipped or failed) and
   older than ``--event-days`` are deleted: the worker's queue keeps only what
   is pending and recent history for staff.
4. Exports past their ``expires_at`` (CHAT_EXPORT_HOURS after they finished)
   lose their file (decrypted content: never kept longer), and the work folders
   of exports that failed or were cancelled are removed; their job rows stay as
   a record (without the file).

Each batch (of messages, or of one room's events) is one transaction, so
Ctrl-C leaves every message and every room consistent, and a rerun continues
where the last run stopped; a run with nothing left to do changes nothing.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from chat import crypto
from chat.exports.writer import ExportWriter, result_path
from chat.models import (
    EXPORT_JOB_KINDS,
    ChatMessage,
    ChatRoom,
    MessageEdit,
    MessageMention,
    Notification,
    NotificationState,
    RoomEvent,
    SearchToken,
)
from chatsite.core.models import Job, JobState


def purge_message_content(message_ids: list) -> tuple[int, int, int]:
    """Purge the content of those of ``message_ids`` still deleted and unpurged. Call inside a transaction.

    Returns (messages purged, edit versions deleted, search tokens deleted).
    """
    purged_at = timezone.now()
    ChatMessage.objects.filter(pk__in=message_ids, is_deleted=True, content_purged_at__isnull=True).update(
        content_encrypted=crypto.encrypt(""), html_encrypted="", mentions_encrypted="", content_purged_at=purged_at, updated_at=purged_at
    )
    # Exactly the rows purged here (one restored in the meantime is not among them).
    purged = list(
        ChatMessage.objects.filter(pk__in=message_ids, content_purged_at=purged_at).values_list("pk", flat=True)
    )
    edits, _ = MessageEdit.objects.filter(message_id__in=purged).delete()
    tokens, _ = SearchToken.objects.filter(message_id__in=purged).delete()
    MessageMention.objects.filter(message_id__in=purged).delete()
    return len(purged), edits, tokens


def delete_room_events(room_id, through: int) -> int:
    """Delete ``room_id``'s events up to ``through`` and record it. Call inside a transaction.

    The room row is updated first: it takes the row lock that seq allocation
    also takes, and ``events_purged_through`` only ever grows.
    """
    ChatRoom.objects.filter(pk=room_id, events_purged_through__lt=through).update(events_purged_through=through)
    deleted, _ = RoomEvent.objects.filter(room_id=room_id, seq__lte=through).delete()
    return deleted


class Command(BaseCommand):
    help = (
        "Purge the content of messages deleted more than --deleted-days ago and room events older "
        "than --event-days (defaults: CHAT_DELETED_CONTENT_RETENTION_DAYS, CHAT_EVENT_RETENTION_DAYS)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--deleted-days",
            type=int,
            default=None,
            help="Keep deleted messages' content this many days (default CHAT_DELETED_CONTENT_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--event-days",
            type=int,
            default=None,
            help="Keep room events this many days (default CHAT_EVENT_RETENTION_DAYS).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would be purged; change nothing.")
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Messages, rooms or events per transaction (default 500)."
        )

    def handle(self, *args, deleted_days=None, event_days=None, dry_run=False, batch_size=500, **options):
        if deleted_days is None:
            deleted_days = settings.CHAT_DELETED_CONTENT_RETENTION_DAYS
        if event_days is None:
            event_days = settings.CHAT_EVENT_RETENTION_DAYS
        if deleted_days < 0 or event_days < 0:
            raise CommandError("--deleted-days and --event-days must not be negative.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.stats = {
            "messages": 0,
            "edits": 0,
            "tokens": 0,
            "rooms_checked": 0,
            "rooms_purged": 0,
            "events": 0,
            "notifications": 0,
            "exports": 0,
        }
        now = timezone.now()
        deleted_cutoff = now - timedelta(days=deleted_days)
        event_cutoff = now - timedelta(days=event_days)
        self._say(
            f"{'Dry run (nothing will be changed): ' if dry_run else ''}purging the content of messages deleted "
            f"before {deleted_cutoff.isoformat()} and room events created before {event_cutoff.isoformat()}"
        )
        try:
            self._purge_deleted_content(deleted_cutoff)
            self._purge_events(event_cutoff)
            self._purge_notifications(event_cutoff)
            self._purge_exports(now)
        except KeyboardInterrupt:
            self._summary()
            raise CommandError(
                "Interrupted; the batch in progress was rolled back and everything before it is done. "
                "Run the command again to continue."
            ) from None
        self._summary()

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    # --- deleted message content ---------------------------------------------

    def _purge_deleted_content(self, cutoff) -> None:
        candidates = ChatMessage.objects.filter(
            is_deleted=True, deleted_at__lt=cutoff, content_purged_at__isnull=True
        )
        total = candidates.count()
        if self.dry_run:
            self.stats["messages"] = total
            self.stats["edits"] = MessageEdit.objects.filter(message__in=candidates).count()
            self.stats["tokens"] = SearchToken.objects.filter(message__in=candidates).count()
            return
        last_pk = None
        while True:
            with transaction.atomic():
                rows = candidates.order_by("pk")
                if last_pk is not None:
                    rows = rows.filter(pk__gt=last_pk)
                # Locked: a concurrent restore waits, then sees content_purged_at and refuses.
                ids = list(rows.select_for_update().values_list("pk", flat=True)[: self.batch_size])
                if not ids:
                    return
                purged, edits, tokens = purge_message_content(ids)
            last_pk = ids[-1]
            self.stats["messages"] += purged
            self.stats["edits"] += edits
            self.stats["tokens"] += tokens
            self._say(f"{self.stats['messages']}/{total} deleted messages purged")

    # --- room events ------------------------------------------------------------

    def _purge_events(self, cutoff) -> None:
        rooms_total = ChatRoom.objects.count()
        last_pk = None
        while True:
            rooms = ChatRoom.objects.order_by("pk")
            if last_pk is not None:
                rooms = rooms.filter(pk__gt=last_pk)
            batch = list(rooms.values_list("pk", "events_purged_through")[: self.batch_size])
            if not batch:
                return
            room_ids = [pk for pk, _ in batch]
            newest_old = self._seq_by_room(room_ids, Max, created_at__lt=cutoff)
            oldest_recent = self._seq_by_room(room_ids, Min, created_at__gte=cutoff)
            for room_id, purged_through in batch:
                through = newest_old.get(room_id)
                if through is None:
                    continue
                if room_id in oldest_recent:
                    # Keep the log contiguous without deleting any recent event.
                    through = min(through, oldest_recent[room_id] - 1)
                if through > purged_through:
                    self._purge_room(room_id, purged_through, through)
            last_pk = room_ids[-1]
            self.stats["rooms_checked"] += len(batch)
            self._say(
                f"{self.stats['rooms_checked']}/{rooms_total} rooms checked: {self.stats['events']} events "
                f"{'to delete' if self.dry_run else 'deleted'} in {self.stats['rooms_purged']} rooms"
            )

    @staticmethod
    def _seq_by_room(room_ids: list, aggregate, **filters) -> dict:
        return dict(
            RoomEvent.objects.filter(room_id__in=room_ids, **filters)
            .order_by()
            .values("room_id")
            .annotate(edge=aggregate("seq"))
            .values_list("room_id", "edge")
        )

    def _purge_room(self, room_id, purged_through: int, through: int) -> None:
        if self.dry_run:
            self.stats["events"] += RoomEvent.objects.filter(
                room_id=room_id, seq__gt=purged_through, seq__lte=through
            ).count()
            self.stats["rooms_purged"] += 1
            return
        # The log is contiguous, so a step of batch_size seqs deletes at most batch_size events;
        # after each committed step the room is consistent (purged_through + 1 .. seq).
        while purged_through < through:
            upper = min(through, purged_through + self.batch_size)
            with transaction.atomic():
                deleted = delete_room_events(room_id, upper)
            self.stats["events"] += deleted
            purged_through = upper
            if through - upper > 0:
                self._say(f"room {room_id}: events purged through seq {upper} of {through}")
        self.stats["rooms_purged"] += 1

    # --- the notification queue ------------------------------------------------------

    def _purge_notifications(self, cutoff) -> None:
        done = Notification.objects.filter(updated_at__lt=cutoff).exclude(state=NotificationState.PENDING)
        if self.dry_run:
            self.stats["notifications"] = done.count()
            return
        while True:
            with transaction.atomic():
                ids = list(done.values_list("pk", flat=True)[: self.batch_size])
                if not ids:
                    return
                deleted, _ = Notification.objects.filter(pk__in=ids).delete()
            self.stats["notifications"] += deleted

    def _purge_exports(self, now) -> None:
        expired = Job.objects.filter(kind__in=EXPORT_JOB_KINDS, state=JobState.DONE, expires_at__lte=now).exclude(result__has_key="expired")
        ended = Job.objects.filter(kind__in=EXPORT_JOB_KINDS, state__in=[JobState.FAILED, JobState.CANCELLED])
        if self.dry_run:
            self.stats["exports"] = expired.count()
            return
        for job in expired:
            result_path(job.result.get("file", "missing")).unlink(missing_ok=True)
            Job.objects.filter(pk=job.pk).update(result={**job.result, "expired": True})
            self.stats["exports"] += 1
        for job_id in ended.values_list("pk", flat=True):
            ExportWriter.discard_work(job_id)

    # --- report -------------------------------------------------------------------

    def _summary(self) -> None:
        stats = self.stats
        verb = "would be" if self.dry_run else "were"
        self.stdout.write("")
        self.stdout.write(
            f"deleted messages: {stats['messages']} {verb} purged "
            f"({stats['edits']} edit versions and {stats['tokens']} search tokens removed)"
        )
        self.stdout.write(
            f"room events: {stats['events']} {verb} deleted in {stats['rooms_purged']} rooms "
            f"({stats['rooms_checked']} rooms checked)"
        )
        self.stdout.write(f"notifications: {stats['notifications']} done ones {verb} deleted")
        self.stdout.write(f"exports: {stats['exports']} expired files {verb} deleted")
        if self.dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        self.stdout.flush()
