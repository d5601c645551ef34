"""A person's own data (job kind ``user.export``): their profile, memberships
with read positions and notification levels, the messages they wrote, their
reactions, uploads (the files too, up to the byte budget), blocks, saved
messages, notification settings, push subscriptions, sessions and the audit
entries about them or by them — as ``data.json`` (schema
``chatsite.personal-export``, version 1; docs/data.md) and their files.

The messages are the long part: CHAT_EXPORT_BATCH at a time, in the order
they were written, with a checkpoint after each step.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import UserBlock, UserSession
from chatsite.core import jobs
from chatsite.core.models import Job

from ..events import render
from ..models import (
    JOB_PERSONAL_EXPORT,
    Attachment,
    AuditLog,
    ChatMember,
    ChatMessage,
    MessageReaction,
    NotificationPreferences,
    PushSubscription,
    SavedMessage,
)
from .room import finished, safe_name
from .writer import ExportWriter

KIND = JOB_PERSONAL_EXPORT
SCHEMA = "chatsite.personal-export"
VERSION = 1


def _iso(value):
    return value.isoformat() if value else None


def _head(user, budget: int, writer: ExportWriter | None) -> tuple[dict, int]:
    """Everything but the messages (each part small), and the upload bytes spent."""
    memberships = ChatMember.objects.filter(user=user).select_related("room").order_by("created_at")
    preferences = NotificationPreferences.objects.filter(user=user).first()
    uploads, spent = [], 0
    for attachment in Attachment.objects.filter(uploaded_by=user).order_by("created_at"):
        item = {
            "id": str(attachment.pk),
            "name": attachment.original_name,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "uploaded_at": _iso(attachment.created_at),
            "file": None,
        }
        if writer is not None and spent + attachment.size <= budget:
            path = f"files/{attachment.pk}/{safe_name(attachment.original_name)}"
            try:
                writer.copy_file(attachment.file, path)
            except OSError:
                item["left_out"] = "the stored file is missing"
            else:
                item["file"], spent = path, spent + attachment.size
        else:
            item["left_out"] = "over the size chosen for the export"
        uploads.append(item)
    head = {
        "schema": SCHEMA,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "profile": {
            "id": str(user.pk),
            "username": user.username,
            "display_name": user.display_name,
            "email": user.email,
            "company": user.company.name if user.company_id else None,
            "time_zone": getattr(user, "time_zone", ""),
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "is_active": user.is_active,
        },
        "memberships": [
            {
                "room": {"id": str(m.room_id), "name": m.room.name, "room_type": m.room.room_type},
                "role": m.role,
                "is_active": m.is_active,
                "is_banned": m.is_banned,
                "joined_at": _iso(m.joined_at),
                "left_at": _iso(m.left_at),
                "read_position_seq": m.last_read_seq,
                "notify_level": m.notify_level or "default",
                "notifications_muted": m.notifications_muted,
            }
            for m in memberships
        ],
        "reactions": [
            {"message": str(r.message_id), "room": str(r.message.room_id), "reaction": r.reaction, "at": _iso(r.created_at)}
            for r in MessageReaction.objects.filter(user=user).select_related("message").order_by("created_at")
        ],
        "uploads": uploads,
        "blocked": [
            {"user": render.user_payload(b.blocked), "at": _iso(b.created_at)}
            for b in UserBlock.objects.filter(blocker=user).select_related("blocked").order_by("created_at")
        ],
        "saved_messages": [
            {"message": str(s.message_id), "saved_at": _iso(s.created_at)}
            for s in SavedMessage.objects.filter(user=user).order_by("created_at")
        ],
        "notification_settings": {
            "desktop_enabled": preferences.desktop_enabled,
            "sound_enabled": preferences.sound_enabled,
            "email_enabled": preferences.email_enabled,
            "email_delay_minutes": preferences.email_delay_minutes,
        }
        if preferences
        else None,
        "push_subscriptions": [
            {"service": urlsplit(p.endpoint).netloc, "user_agent": p.user_agent, "created_at": _iso(p.created_at), "last_used_at": _iso(p.last_used_at)}
            for p in PushSubscription.objects.filter(user=user).order_by("created_at")
        ],
        "sessions": [
            {"kind": s.kind, "user_agent": s.user_agent, "ip": s.ip, "created_at": _iso(s.created_at), "last_seen_at": _iso(s.last_seen_at)}
            for s in UserSession.objects.filter(user=user).order_by("created_at")
        ],
        "audit": [
            {
                "at": _iso(a.created_at),
                "action": a.action,
                "by_me": a.actor_id == user.pk,
                "about_me": a.target_user_id == user.pk,
                "room": str(a.room_id) if a.room_id else None,
                "reason": a.reason,
            }
            for a in AuditLog.objects.filter(Q(actor=user) | Q(target_user=user)).order_by("created_at")
        ],
        "uploads_budget_bytes": budget,
    }
    return head, spent


def message_item(message: ChatMessage) -> dict:
    return {
        "id": str(message.pk),
        "room": str(message.room_id),
        "seq": message.seq,
        "created_at": _iso(message.created_at),
        "message_type": message.message_type,
        "content": None if message.is_deleted else render.message_content(message),
        "is_deleted": message.is_deleted,
        "edited_at": _iso(message.edited_at),
        "reply_to": str(message.reply_to_id) if message.reply_to_id else None,
        "thread": str(message.thread_id) if message.thread_id else None,
        "attachment": str(message.attachment_id) if message.attachment_id else None,
    }


def export_person(*, user, budget: int, writer: ExportWriter, ctx=None) -> tuple[str, int]:
    checkpoint = dict(ctx.checkpoint) if ctx else {}
    after, parts, done = checkpoint.get("after"), checkpoint.get("parts", 0), checkpoint.get("done", 0)
    messages = ChatMessage.objects.filter(sender=user).exclude(message_type="system")
    total = max(1, messages.count())
    while True:
        page = messages
        if after:
            page = page.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], pk__gt=after[1]))
        batch = list(page.order_by("created_at", "pk")[: settings.CHAT_EXPORT_BATCH])
        if not batch:
            break
        parts += 1
        writer.write_part(parts, [message_item(message) for message in batch])
        after, done = [batch[-1].created_at.isoformat(), str(batch[-1].pk)], done + len(batch)
        if ctx is not None:
            ctx.progress(min(95, 95 * done // total), checkpoint={"after": after, "parts": parts, "done": done})
    head, _spent = _head(user, budget, writer)
    return writer.assemble(json_name="data.json", head=head, list_key="messages", parts=parts)


@jobs.handler(KIND)
def run(job: Job, ctx) -> dict:
    writer = ExportWriter(job.pk)
    name, size = export_person(user=job.owner, budget=job.payload.get("attachments_bytes", 0), writer=writer, ctx=ctx)
    writer.discard()
    return finished(job, name, size, f"chatsite-my-data-{timezone.now():%Y-%m-%d}.zip")
