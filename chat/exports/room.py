"""A room's export (job kind ``room.export``): every message of the room up to
the seq it had when the export was asked for — edits, deletions as tombstones,
reactions, threads — as ``messages.json`` (schema ``chatsite.room-export``,
version 1; docs/data.md) and a readable ``index.html`` (no script; it works
offline), with the attachments up to the byte budget the requester chose.

A step is CHAT_EXPORT_BATCH messages; the checkpoint after it names the last
seq done, the parts written and the attachment bytes spent, so a worker that
takes over goes on from there.
"""

import re
from datetime import timedelta

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from chatsite.core import jobs
from chatsite.core.models import Job

from .. import crypto
from ..events import render
from ..models import JOB_ROOM_EXPORT, ChatMember, ChatMessage, ChatRoom, MessageEdit
from .writer import ExportWriter

KIND = JOB_ROOM_EXPORT
SCHEMA = "chatsite.room-export"
VERSION = 1
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_name(name: str) -> str:
    """A file name that stays one path part inside the ZIP."""
    cleaned = _UNSAFE.sub("_", (name or "file").replace("/", "_").replace("\\", "_")).strip(" .")
    return cleaned[:120] or "file"


def room_head(room: ChatRoom, requester, budget: int) -> dict:
    members = ChatMember.objects.filter(room=room).select_related("user").order_by("joined_at", "created_at")
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "exported_by": render.user_payload(requester) if requester else None,
        "room": render.room_payload(room),
        "members": [
            {
                "user": render.user_payload(member.user),
                "role": member.role,
                "is_active": member.is_active,
                "is_banned": member.is_banned,
                "joined_at": member.joined_at.isoformat() if member.joined_at else None,
                "left_at": member.left_at.isoformat() if member.left_at else None,
            }
            for member in members
        ],
        "attachments_budget_bytes": budget,
    }


def message_items(batch: list[ChatMessage], writer: ExportWriter | None, spent: int, budget: int) -> tuple[list[dict], int]:
    """The export's form of a step's messages (the API's payload, plus the
    earlier versions and the attachment's file in the ZIP); copies the
    attachments that fit the budget. Returns (items, bytes spent so far)."""
    edits: dict = {}
    for edit in MessageEdit.objects.filter(message__in=batch).order_by("created_at"):
        edits.setdefault(edit.message_id, []).append(
            {"content": crypto.decrypt(edit.previous_content_encrypted), "replaced_at": edit.created_at.isoformat()}
        )
    items = []
    for message, payload in zip(batch, render.message_payloads(batch), strict=True):
        item = {**payload, "edits": edits.get(message.pk, [])}
        attachment = message.attachment if not message.is_deleted else None
        if attachment is not None:
            path = f"files/{attachment.pk}/{safe_name(attachment.original_name)}"
            if writer is None:
                item["attachment_file"], item["attachment_left_out"] = None, "not asked for"
            elif spent + attachment.size > budget:
                item["attachment_file"], item["attachment_left_out"] = None, "over the size chosen for the export"
            else:
                try:
                    writer.copy_file(attachment.file, path)
                except OSError:
                    item["attachment_file"], item["attachment_left_out"] = None, "the stored file is missing"
                else:
                    spent += attachment.size
                    item["attachment_file"], item["attachment_left_out"] = path, None
        items.append(item)
    return items, spent


def html_pages(head: dict):
    """index.html, a step at a time (Django's templates escape every text; a
    message's HTML is the stored sanitized rendering)."""

    def render_parts(parts):
        yield render_to_string("chat/export/head.html", {"head": head})
        for items in parts:
            yield render_to_string("chat/export/messages.html", {"messages": items})
        yield render_to_string("chat/export/foot.html", {"head": head})

    return render_parts


def export_room(*, room: ChatRoom, requester, through_seq: int, budget: int, writer: ExportWriter, ctx=None) -> tuple[str, int]:
    """Write the export of ``room`` (messages up to ``through_seq``) with
    ``writer``; with ``ctx`` (a job), resumable and reporting progress."""
    checkpoint = dict(ctx.checkpoint) if ctx else {}
    after, parts, spent, done = (checkpoint.get(key, 0) for key in ("after_seq", "parts", "spent", "done"))
    messages = ChatMessage.objects.filter(room=room, seq__lte=through_seq).select_related(
        "sender", "attachment", "reply_to__sender", "forwarded_from__sender"
    )
    total = max(1, messages.count())
    while True:
        batch = list(messages.filter(seq__gt=after).order_by("seq")[: settings.CHAT_EXPORT_BATCH])
        if not batch:
            break
        items, spent = message_items(batch, writer, spent, budget)
        parts += 1
        writer.write_part(parts, items)
        after, done = batch[-1].seq, done + len(batch)
        if ctx is not None:
            ctx.progress(min(99, 100 * done // total), checkpoint={"after_seq": after, "parts": parts, "spent": spent, "done": done})
    head = room_head(room, requester, budget)
    head["through_seq"] = through_seq
    return writer.assemble(json_name="messages.json", head=head, list_key="messages", parts=parts, html=html_pages(head))


def finished(job: Job, name: str, size: int, download_name: str) -> dict:
    """The result of an export job, and its expiry."""
    Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() + timedelta(hours=settings.CHAT_EXPORT_HOURS))
    return {"file": name, "size": size, "name": download_name}


@jobs.handler(KIND)
def run(job: Job, ctx) -> dict:
    room = ChatRoom.objects.get(pk=job.payload["room"])
    writer = ExportWriter(job.pk)
    name, size = export_room(
        room=room,
        requester=job.owner,
        through_seq=job.payload["through_seq"],
        budget=job.payload.get("attachments_bytes", 0),
        writer=writer,
        ctx=ctx,
    )
    writer.discard()
    stamp = timezone.now().strftime("%Y-%m-%d")
    return finished(job, name, size, f"chatsite-{safe_name(room.name or 'room')}-{stamp}.zip".replace(" ", "-"))
