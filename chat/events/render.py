"""The one JSON shape of each chat object, used by REST bodies, WebSocket events
and the event log alike.

Plain functions over model instances (no DRF in the hot path); the REST
serializers call these, so a message looks the same wherever it appears.

A message written in this request is rendered once: :func:`message_json`
keeps the encoded bytes on the instance, and the event frame, the WebSocket
ack and the REST answer all splice in those same bytes. A service that has the
plaintext at hand passes it to :func:`remember_plaintext` so it is not
decrypted again. Both caches are keyed by the row's state, so an instance
reloaded with ``refresh_from_db()`` never shows what it held before.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import msgspec
from cryptography.fernet import InvalidToken
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.payloads import user_payload

from .. import crypto, formatting
from ..models import (
    Attachment,
    ChatMember,
    ChatMessage,
    ChatRoom,
    MessageReaction,
    MessageType,
)
from . import wire

logger = logging.getLogger(__name__)
REPLY_PREVIEW_LENGTH = 200


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def pin_payload(pin) -> dict:
    """A pin as the ``message.pinned`` event and the room's pin list give it."""
    return {"message_id": str(pin.message_id), "pinned_by": user_payload(pin.pinned_by), "pinned_at": _iso(pin.created_at)}


def invite_payload(invite, *, url: str) -> dict:
    """An invite link as its room's owners and admins see it (``url``: the page that joins)."""
    return {
        "id": str(invite.pk),
        "code": invite.code,
        "url": url,
        "role": invite.role,
        "expires_at": _iso(invite.expires_at),
        "max_uses": invite.max_uses,
        "uses": invite.uses,
        "created_by": user_payload(invite.created_by),
        "created_at": _iso(invite.created_at),
    }


def invite_preview_payload(invite, *, already_member: bool) -> dict:
    """What the person opening an invite link learns before joining."""
    room = invite.room
    return {
        "room": {
            "id": str(room.pk),
            "name": room.name,
            "description": room.description,
            "member_count": invite.member_total,
        },
        "role": invite.role,
        "expires_at": _iso(invite.expires_at),
        "already_member": already_member,
    }


def attachment_payload(attachment: Attachment | None) -> dict | None:
    if attachment is None:
        return None
    return {
        "id": str(attachment.pk),
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "url": reverse("attachment-detail", kwargs={"pk": attachment.pk}),
        "previews": previews_payload(attachment),
    }


def previews_payload(attachment: Attachment) -> dict | None:
    """The two thumbnails, served like the file (members only); null when none (yet)."""
    if not attachment.has_previews:
        return None
    sizes = attachment.preview_sizes or {}
    out = {"content_type": "image/webp"}
    for name in ("small", "large"):
        width, height = sizes.get(name) or (None, None)
        url = reverse("attachment-preview", kwargs={"pk": attachment.pk, "size": name})
        out[name] = {"url": url, "width": width, "height": height}
    return out


def remember_plaintext(message: ChatMessage, text: str) -> None:
    """The service that encrypted ``text`` into the message keeps it for rendering."""
    message._known_plaintext = (message.content_encrypted, text)


def remember_mentions(message: ChatMessage, entries: list[dict]) -> None:
    """Encrypt a message's resolved mentions into it, keeping the entries for rendering."""
    message.mentions_encrypted = crypto.encrypt(wire.encode(entries)) if entries else ""
    message._known_mentions = (message.mentions_encrypted, entries)


# html_encrypted of a message whose formatting adds nothing to its text.
PLAIN = "plain"


def remember_html(message: ChatMessage, html: str | None) -> None:
    """Encrypt a message's formatted HTML into it (or mark it plain), keeping it for rendering."""
    message.html_encrypted = crypto.encrypt(html) if html else PLAIN
    message._known_html = (message.html_encrypted, html)


def message_html(message: ChatMessage) -> str | None:
    """The sanitized HTML of a message's content (chat/formatting.py); None when
    formatting adds nothing to the text, once it is deleted, and for system
    messages (their text is the server's own)."""
    if message.is_deleted or message.message_type == MessageType.SYSTEM:
        return None
    known = getattr(message, "_known_html", None)
    if known is not None and known[0] == message.html_encrypted:
        return known[1]
    if message.html_encrypted == PLAIN:
        html = None
    elif message.html_encrypted:
        try:
            html = crypto.decrypt(message.html_encrypted)
        except InvalidToken:
            logger.error("formatted text of message %s cannot be decrypted with CHAT_ENCRYPTION_KEYS", message.pk)
            return None
    else:
        # Stored before formatting: rendered from the source now (not stored: a read writes nothing).
        content = message_content(message)
        html = formatting.formatted_html(content) if content else None
    message._known_html = (message.html_encrypted, html)
    return html


def message_mentions(message: ChatMessage) -> list[dict]:
    """The mentions of a message ([{"kind", "user_id"}]); none once it is deleted."""
    if message.is_deleted or not message.mentions_encrypted:
        return []
    known = getattr(message, "_known_mentions", None)
    if known is not None and known[0] == message.mentions_encrypted:
        return known[1]
    try:
        entries = msgspec.json.decode(crypto.decrypt(message.mentions_encrypted))
    except InvalidToken:
        logger.error("mentions of message %s cannot be decrypted with CHAT_ENCRYPTION_KEYS", message.pk)
        return []
    message._known_mentions = (message.mentions_encrypted, entries)
    return entries


def _render_key(message: ChatMessage) -> tuple:
    return (
        message.content_encrypted,
        message.html_encrypted,
        message.mentions_encrypted,
        message.is_deleted,
        message.is_edited,
        message.updated_at,
        message.thread_reply_count,
        message.thread_last_reply_at,
    )


def message_content(message: ChatMessage) -> str | None:
    if message.is_deleted:
        return None
    known = getattr(message, "_known_plaintext", None)
    if known is not None and known[0] == message.content_encrypted:
        return known[1]
    try:
        return crypto.decrypt(message.content_encrypted)
    except InvalidToken:
        # A key was retired before reencrypt_messages finished: say so, don't fail the page.
        logger.error("message %s cannot be decrypted with CHAT_ENCRYPTION_KEYS", message.pk)
        return None


def _reply_preview(reply: ChatMessage | None) -> dict | None:
    if reply is None:
        return None
    content = message_content(reply)
    return {
        "id": str(reply.pk),
        "seq": reply.seq,
        "sender": user_payload(reply.sender),
        "content": content[:REPLY_PREVIEW_LENGTH] if content is not None else None,
        "is_deleted": reply.is_deleted,
    }


def reaction_summaries(message_ids: Iterable) -> dict:
    """{message_id: [{"reaction", "count", "user_ids"}]} in one query."""
    grouped: dict = defaultdict(dict)
    rows = (
        MessageReaction.objects.filter(message_id__in=list(message_ids))
        .order_by("created_at")
        .values_list("message_id", "reaction", "user_id")
    )
    for message_id, reaction, user_id in rows:
        grouped[message_id].setdefault(reaction, []).append(str(user_id))
    return {
        message_id: [
            {"reaction": reaction, "count": len(users), "user_ids": users}
            for reaction, users in by_reaction.items()
        ]
        for message_id, by_reaction in grouped.items()
    }


def _participants(user_ids) -> dict:
    """{user id: user payload} of thread participants, in one query."""
    ids = set(user_ids)
    if not ids:
        return {}
    return {str(user.pk): user_payload(user) for user in get_user_model().objects.filter(pk__in=ids)}


def thread_summary(root: ChatMessage, participants: dict | None = None) -> dict | None:
    """A root's summary (None before its first reply): reply count, the last
    reply's time, up to three recent repliers."""
    if not root.thread_reply_count and root.thread_last_reply_at is None:
        return None
    ids = [str(user_id) for user_id in root.thread_participant_ids or []]
    if participants is None:
        participants = _participants(ids)
    return {
        "reply_count": root.thread_reply_count,
        "last_reply_at": _iso(root.thread_last_reply_at),
        "participants": [participants[user_id] for user_id in ids if user_id in participants],
    }


def _forwarded(message: ChatMessage) -> dict | None:
    """Who wrote the original of a forwarded message, and in which room (the
    page names the room only to its members)."""
    source = message.forwarded_from if message.forwarded_from_id else None
    if source is None:
        return None
    return {"sender": user_payload(source.sender) if source.sender_id else None, "room": str(source.room_id)}


def message_payload(message: ChatMessage, *, reactions: list | None = None, participants: dict | None = None) -> dict:
    """A message as clients see it. ``reactions`` defaults to a fresh query
    (none for a new message); so do a root's thread participants."""
    if reactions is None:
        reactions = [] if getattr(message, "is_new", False) else reaction_summaries([message.pk]).get(message.pk, [])
    return {
        "id": str(message.pk),
        "room": str(message.room_id),
        "seq": message.seq,
        "sender": user_payload(message.sender),
        "message_type": message.message_type,
        "content": message_content(message),
        "html": message_html(message),
        "mentions": message_mentions(message),
        "extra_metadata": message.extra_metadata,
        "reply_to": _reply_preview(message.reply_to),
        "forwarded_from": str(message.forwarded_from_id) if message.forwarded_from_id else None,
        "forwarded": _forwarded(message),
        "attachment": None if message.is_deleted else attachment_payload(message.attachment),
        "client_msg_id": message.client_msg_id,
        "is_edited": message.is_edited,
        "edited_at": _iso(message.edited_at),
        "is_deleted": message.is_deleted,
        "deleted_at": _iso(message.deleted_at),
        "created_at": _iso(message.created_at),
        "reactions": reactions,
        "thread": str(message.thread_id) if message.thread_id else None,
        "also_in_room": message.also_in_room,
        "thread_summary": thread_summary(message, participants),
    }


def message_json(message: ChatMessage, *, fresh: bool = False) -> bytes:
    """The message's payload as JSON, rendered once per state: the log renders
    it (``fresh``) when it announces a change, and the command answering the
    client reuses the same bytes."""
    rendered = getattr(message, "_rendered_json", None)
    if fresh or rendered is None or rendered[0] != _render_key(message):
        rendered = message._rendered_json = (_render_key(message), wire.encode_bytes(message_payload(message)))
    return rendered[1]


def message_payloads(messages: list[ChatMessage]) -> list[dict]:
    """Many messages with three queries at most beyond the caller's
    select_related (reactions, and the participants of the threads among them)."""
    summaries = reaction_summaries(m.pk for m in messages) if messages else {}
    participants = _participants(str(user_id) for m in messages for user_id in m.thread_participant_ids or [])
    return [message_payload(m, reactions=summaries.get(m.pk, []), participants=participants) for m in messages]


def member_payload(member: ChatMember) -> dict:
    return {
        "id": str(member.pk),
        "room": str(member.room_id),
        "user": user_payload(member.user),
        "role": member.role,
        "is_active": member.is_active,
        "is_banned": member.is_banned,
        "muted_until": _iso(member.muted_until),
        "last_read_seq": member.last_read_seq,
        "joined_at": _iso(member.joined_at),
    }


def room_payload(room: ChatRoom) -> dict:
    return {
        "id": str(room.pk),
        "room_type": room.room_type,
        "name": room.name,
        "description": room.description,
        "avatar": attachment_payload(room.avatar) if room.avatar_id else None,
        "company": str(room.company_id) if room.company_id else None,
        "created_by": str(room.created_by_id) if room.created_by_id else None,
        "is_active": room.is_active,
        "is_public": room.is_public,
        "extra_metadata": room.extra_metadata,
        "seq": room.seq,
        "last_message_at": _iso(room.last_message_at),
        "created_at": _iso(room.created_at),
    }
