"""Make the previews of images and PDFs uploaded before previews existed.

Their stored files are left exactly as they are (the metadata of those older
uploads is not stripped: docs/data.md says why). No event is sent: clients see
the previews the next time they load the messages."""

from django.core.management.base import BaseCommand, CommandError

from chat import commands, selectors


class Command(BaseCommand):
    help = "Make the thumbnails of images and PDFs stored before previews existed (in batches; safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=100, help="attachments per batch (default 100)")
        parser.add_argument("--limit", type=int, default=None, help="stop after this many (default: all)")

    def handle(self, *args, batch: int, limit: int | None, **options):
        if batch <= 0 or (limit is not None and limit <= 0):
            raise CommandError("--batch and --limit must be positive")
        counts = {"ready": 0, "failed": 0}
        done = 0
        while limit is None or done < limit:
            size = batch if limit is None else min(batch, limit - done)
            ids = selectors.attachments_without_previews(limit=size)
            if not ids:
                break
            for attachment_id in ids:
                attachment = commands.attachment_make_previews(attachment_id=attachment_id, announce=False)
                if attachment is not None:
                    counts["ready" if attachment.has_previews else "failed"] += 1
                done += 1
        self.stdout.write(f"previews made: {counts['ready']}, could not be made: {counts['failed']}")
