"""Edge helpers shared by the REST viewsets and the WebSocket consumer.

Each takes the caller and already-validated input (from the input serializers
in chat.api.serializers), resolves ids to objects the caller may see, applies
the rate limit of its kind and calls one service. Synchronous: the consumer
runs them through ``database_sync_to_async``.
"""

from chat import payloads, ratelimit, selectors, services
from chat.exceptions import NotFound
from chat.models import Attachment, ChatMessage


def message_send(*, user, room_id, data: dict) -> tuple[dict, bool]:
    """Send per MessageSendInputSerializer data: ``(message payload, created)``."""
    member = selectors.membership_for(room_id=room_id, user=user)
    room = member.room
    ratelimit.check(kind="message.send", user=user, room=room)
    reply_to = attachment = None
    if data.get("reply_to"):
        reply_to = ChatMessage.objects.filter(pk=data["reply_to"], room=room).first()
        if reply_to is None:
            raise NotFound("The message replied to is not in this room.", code="reply_not_found")
    if data.get("attachment_id"):
        attachment = Attachment.objects.filter(pk=data["attachment_id"]).first()
        if attachment is None:
            raise NotFound("Attachment not found.", code="attachment_not_found")
    message, created = services.message_send(
        room=room,
        sender=user,
        content=data.get("content", ""),
        message_type=data.get("message_type"),
        client_msg_id=data.get("client_msg_id"),
        reply_to=reply_to,
        attachment=attachment,
        extra_metadata=data.get("extra_metadata"),
        member=member,
    )
    return payloads.message_payload(message), created


def message_edit(*, user, message_id, content: str) -> dict:
    message = services.message_get_for_member(message_id=message_id, user=user)
    ratelimit.check(kind="message.edit", user=user, room=message.room)
    services.message_edit(message=message, actor=user, content=content)
    return payloads.message_payload(services.message_get_for_member(message_id=message_id, user=user))


def message_delete(*, user, message_id) -> dict:
    message = services.message_get_for_member(message_id=message_id, user=user)
    ratelimit.check(kind="message.delete", user=user, room=message.room)
    services.message_delete(message=message, actor=user)
    return payloads.message_payload(services.message_get_for_member(message_id=message_id, user=user))


def reaction_counts(*, user, message) -> list[dict]:
    me = str(user.pk)
    summary = payloads.reaction_summaries([message.pk]).get(message.pk, [])
    return [{**item, "me": me in item["user_ids"]} for item in summary]


def reaction_add(*, user, message_id, reaction: str) -> tuple[list[dict], bool]:
    message = services.message_get_for_member(message_id=message_id, user=user)
    ratelimit.check(kind="reaction", user=user, room=message.room)
    _reaction, created = services.reaction_add(message=message, user=user, reaction=reaction)
    return reaction_counts(user=user, message=message), created


def reaction_remove(*, user, message_id, reaction: str) -> list[dict]:
    message = services.message_get_for_member(message_id=message_id, user=user)
    ratelimit.check(kind="reaction", user=user, room=message.room)
    services.reaction_remove(message=message, user=user, reaction=reaction)
    return reaction_counts(user=user, message=message)


def room_mark_read(*, user, room_id, seq: int) -> dict:
    room = selectors.room_get_for_member(room_id=room_id, user=user)
    ratelimit.check(kind="read", user=user, room=room)
    member = services.room_mark_read(room=room, user=user, seq=seq)
    return {
        "room": str(room.pk),
        "last_read_seq": member.last_read_seq,
        "unread_count": selectors.unread_count(room=room, user=user),
    }
