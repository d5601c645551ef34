"""``manage.py export_room ROOM_ID OUTPUT.zip``: a room's export (the same ZIP
as the API's, docs/data.md), made right here rather than by the worker."""

import shutil
import uuid

from django.core.management.base import BaseCommand, CommandError

from chat.exports.room import export_room
from chat.exports.writer import ExportWriter, result_path
from chat.models import ChatRoom


class Command(BaseCommand):
    help = "Export a room (every message, edits, deletions as tombstones, reactions, threads) to a ZIP file."

    def add_arguments(self, parser):
        parser.add_argument("room_id")
        parser.add_argument("output", help="the ZIP file to write")
        parser.add_argument("--attachments-bytes", type=int, default=0, help="include attachments up to this many bytes in all (default 0: none)")

    def handle(self, *args, room_id, output, attachments_bytes, **options):
        try:
            room = ChatRoom.objects.get(pk=uuid.UUID(room_id))
        except (ValueError, ChatRoom.DoesNotExist):
            raise CommandError(f"No room {room_id!r}.") from None
        if attachments_bytes < 0:
            raise CommandError("--attachments-bytes must be 0 or more.")
        writer = ExportWriter(f"cli-{uuid.uuid4()}")
        try:
            name, size = export_room(room=room, requester=None, through_seq=room.seq, budget=attachments_bytes, writer=writer)
            shutil.move(result_path(name), output)
        finally:
            writer.discard()
        self.stdout.write(f"Wrote {output} ({size:,} bytes, messages through #{room.seq}).")
