"""Re-encrypt stored message content under the newest key of CHAT_ENCRYPTION_KEYS.

Key rotation: put the new key first in CHAT_ENCRYPTION_KEYS (keep the old ones
after it), deploy, run this command, then drop the old keys. Rows already under
the primary key are skipped, so a rerun is cheap and an interrupted run simply
continues. Each batch is one transaction and each row is written with a
compare-and-set (``UPDATE … WHERE content = <what we read>``), so a message
edited while the command runs is never overwritten with its older text.

A token no configured key opens is left untouched, reported, and makes the
command exit non-zero at the end.

``--reindex-search`` rebuilds the keyed-hash search index of every visible,
non-system message (after rotating CHAT_SEARCH_KEY).

This is maintenance, not a domain write: content does not change, so no room
event is logged or broadcast.
"""

from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from chat import crypto
from chat.events import render
from chat.models import ChatMessage, MessageEdit, MessageType
from chat.search import index_message

MAX_REPORTED_IDS = 10


@dataclass
class Tally:
    label: str
    total: int = 0
    checked: int = 0
    rotated: int = 0
    current: int = 0
    changed_meanwhile: int = 0
    failed: int = 0
    failed_ids: list = field(default_factory=list)

    def fail(self, pk) -> None:
        self.failed += 1
        if len(self.failed_ids) < MAX_REPORTED_IDS:
            self.failed_ids.append(str(pk))


class Command(BaseCommand):
    help = (
        "Re-encrypt message content and edit history not yet under the primary key of "
        "CHAT_ENCRYPTION_KEYS; optionally rebuild the search index (--reindex-search)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per transaction (default 500).")
        parser.add_argument(
            "--reindex-search",
            action="store_true",
            help="Also rebuild the search index of every non-deleted, non-system message "
            "from its content (run after changing CHAT_SEARCH_KEY).",
        )

    def handle(self, *args, batch_size: int = 500, reindex_search: bool = False, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.batch_size = batch_size
        tallies = [Tally("messages"), Tally("edit versions"), Tally("mention lists"), Tally("formatted texts")]
        reindex = Tally("messages") if reindex_search else None
        in_progress, phase = tallies[0], "re-encrypting"
        try:
            tallies[0].total = ChatMessage.objects.count()
            tallies[1].total = MessageEdit.objects.count()
            self._rotate(ChatMessage, "content_encrypted", tallies[0])
            in_progress = tallies[1]
            self._rotate(MessageEdit, "previous_content_encrypted", tallies[1])
            in_progress = tallies[2]
            with_mentions = ChatMessage.objects.exclude(mentions_encrypted="")
            tallies[2].total = with_mentions.count()
            self._rotate(ChatMessage, "mentions_encrypted", tallies[2], rows=with_mentions)
            in_progress = tallies[3]
            with_html = ChatMessage.objects.exclude(html_encrypted__in=["", render.PLAIN])
            tallies[3].total = with_html.count()
            self._rotate(ChatMessage, "html_encrypted", tallies[3], rows=with_html)
            if reindex is not None:
                in_progress, phase = reindex, "reindexing"
                reindex.total = self._reindex_queryset().count()
                self._reindex(reindex)
        except KeyboardInterrupt:
            self._summary(tallies, reindex)
            raise CommandError(
                f"Interrupted while {phase}, after {in_progress.checked}/{in_progress.total} {in_progress.label}; "
                "the batch in progress was rolled back. Run the command again to continue."
            ) from None
        self._summary(tallies, reindex)
        undecryptable = sum(t.failed for t in tallies)
        not_reindexed = reindex.failed if reindex is not None else 0
        if undecryptable or not_reindexed:
            problems = []
            if undecryptable:
                problems.append(f"{undecryptable} stored token(s) could not be decrypted and were left untouched")
            if not_reindexed:
                problems.append(f"{not_reindexed} message(s) could not be reindexed")
            raise CommandError(
                f"{'; '.join(problems)} (first ids above): no key in CHAT_ENCRYPTION_KEYS opens them. "
                "Add the missing key and run again."
            )

    def _progress(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    # --- re-encryption ------------------------------------------------------

    def _rotate(self, model, column: str, tally: Tally, rows=None) -> None:
        everything = model.objects.all() if rows is None else rows
        last_pk = None
        while True:
            with transaction.atomic():
                rows = everything.order_by("pk")
                if last_pk is not None:
                    rows = rows.filter(pk__gt=last_pk)
                batch = list(rows.values_list("pk", column)[: self.batch_size])
                if not batch:
                    return
                rotated = current = changed = 0
                failed_ids = []
                for pk, token in batch:
                    if not token or crypto.is_under_primary_key(token):
                        current += 1
                        continue
                    try:
                        new_token = crypto.reencrypt(token)
                    except InvalidToken:
                        failed_ids.append(pk)
                        continue
                    # Compare-and-set: a row rewritten since we read it (an edit
                    # encrypts under the primary key already) is left alone.
                    if model.objects.filter(pk=pk, **{column: token}).update(**{column: new_token}):
                        rotated += 1
                    else:
                        changed += 1
            # Only a committed batch counts.
            last_pk = batch[-1][0]
            tally.checked += len(batch)
            tally.rotated += rotated
            tally.current += current
            tally.changed_meanwhile += changed
            for pk in failed_ids:
                tally.fail(pk)
            self._progress(
                f"{tally.checked}/{tally.total} {tally.label} checked: {tally.rotated} re-encrypted, "
                f"{tally.current} already current, {tally.failed} undecryptable"
            )

    # --- search index -------------------------------------------------------

    @staticmethod
    def _reindex_queryset():
        return ChatMessage.objects.filter(is_deleted=False).exclude(message_type=MessageType.SYSTEM)

    def _reindex(self, tally: Tally) -> None:
        last_pk = None
        while True:
            with transaction.atomic():
                rows = self._reindex_queryset().order_by("pk").only("pk", "room_id", "content_encrypted")
                if last_pk is not None:
                    rows = rows.filter(pk__gt=last_pk)
                # Locked, so a concurrent edit or delete waits and then rebuilds
                # or removes the index itself, after us.
                batch = list(rows.select_for_update()[: self.batch_size])
                if not batch:
                    return
                done, failed_ids = 0, []
                for message in batch:
                    try:
                        text = crypto.decrypt(message.content_encrypted)
                    except InvalidToken:
                        failed_ids.append(message.pk)
                        continue
                    index_message(message, text)
                    done += 1
            last_pk = batch[-1].pk
            tally.checked += len(batch)
            tally.rotated += done
            for pk in failed_ids:
                tally.fail(pk)
            self._progress(f"{tally.checked}/{tally.total} {tally.label} reindexed for search")

    # --- report -------------------------------------------------------------

    def _summary(self, tallies: list[Tally], reindex: Tally | None) -> None:
        self.stdout.write("")
        for tally in tallies:
            line = (
                f"{tally.label}: {tally.rotated} re-encrypted, {tally.current} already current, "
                f"{tally.checked} checked of {tally.total} total"
            )
            if tally.changed_meanwhile:
                line += f", {tally.changed_meanwhile} rewritten meanwhile (left as is)"
            self.stdout.write(line)
            if tally.failed:
                self.stderr.write(
                    f"{tally.label}: {tally.failed} undecryptable, left untouched; first ids: "
                    + ", ".join(tally.failed_ids)
                )
        if reindex is not None:
            self.stdout.write(f"search index: {reindex.rotated} messages reindexed of {reindex.total}")
            if reindex.failed:
                self.stderr.write(
                    f"search index: {reindex.failed} messages undecryptable, not reindexed; first ids: "
                    + ", ".join(reindex.failed_ids)
                )
        self.stdout.flush()
