"""The only module that talks to the channel layer.

Services call :func:`append` inside their transaction: it writes the room event
log row (with the seq the service allocated under the room lock) and schedules
the broadcast with ``transaction.on_commit``, so nothing is announced for a
change that rolled back. Delivery through the layer is best-effort; clients
that see a gap in ``seq`` replay the log (:func:`replay`).

Layer messages carry the frame already encoded as JSON text, so a fan-out to
many consumers encodes once:

    {"type": "chat.event", "room": "<uuid>", "seq": 7, "text": "<frame json>"}

Membership changes also go to the person's own group, as
``{"type": "chat.membership", "action": "added" | "removed", ...}``, so their
sockets join or leave the room's group at once.
"""

import json
import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from .models import ChatMessage, ChatRoom, RoomEvent
from .payloads import message_payload, message_payloads

logger = logging.getLogger(__name__)

# Wire event kinds kept in the room log.
MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"
MESSAGE_DELETED = "message.deleted"
REACTION_ADDED = "reaction.added"
REACTION_REMOVED = "reaction.removed"
MEMBER_ADDED = "member.added"
MEMBER_UPDATED = "member.updated"
MEMBER_REMOVED = "member.removed"
ROOM_UPDATED = "room.updated"
LOGGED_KINDS = frozenset(
    {
        MESSAGE_CREATED,
        MESSAGE_UPDATED,
        MESSAGE_DELETED,
        REACTION_ADDED,
        REACTION_REMOVED,
        MEMBER_ADDED,
        MEMBER_UPDATED,
        MEMBER_REMOVED,
        ROOM_UPDATED,
    }
)
MESSAGE_KINDS = frozenset({MESSAGE_CREATED, MESSAGE_UPDATED, MESSAGE_DELETED})


def room_group(room_id) -> str:
    return f"room.{room_id}"


def user_group(user_id) -> str:
    return f"user.{user_id}"


def encode(frame: dict) -> str:
    return json.dumps(frame, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def _group_send(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if hasattr(layer, "group_send_blocking"):
            layer.group_send_blocking(group, message)  # no event loop needed (chat/layer.py)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # noqa: BLE001 - the change is committed; clients resync from the log
        logger.warning("broadcast to %s failed; clients will resync from the room log", group, exc_info=True)


def send_on_commit(group: str, message: dict) -> None:
    transaction.on_commit(partial(_group_send, group, message))


def append(
    *,
    room: ChatRoom,
    seq: int,
    kind: str,
    body: dict,
    message: ChatMessage | None = None,
    notify_user_ids: tuple = (),
    membership_action: str | None = None,
) -> RoomEvent:
    """Log one room event and broadcast it after commit.

    ``body`` holds the kind-specific fields; message events pass ``message`` and
    get its current payload as ``body["message"]`` (kept out of the log row, which
    references the message instead). ``notify_user_ids`` also receive the frame
    on their own group, with ``membership_action`` telling their sockets to join
    or leave the room's group.
    """
    assert kind in LOGGED_KINDS, kind
    logged_body = {key: value for key, value in body.items() if key != "message"}
    event = RoomEvent.objects.create(room=room, seq=seq, kind=kind, payload=logged_body, message=message)
    announce(room=room, seq=seq, kind=kind, body=body, message=message, notify_user_ids=notify_user_ids,
             membership_action=membership_action)
    return event


def announce(
    *,
    room: ChatRoom,
    seq: int,
    kind: str,
    body: dict,
    message: ChatMessage | None = None,
    notify_user_ids: tuple = (),
    membership_action: str | None = None,
) -> None:
    """The broadcast half of :func:`append`, for a caller that wrote the log row itself."""
    frame = {"type": kind, "room": str(room.pk), "seq": seq, **body}
    if message is not None:
        frame["message"] = message_payload(message)
    text = encode(frame)
    group_message = {"type": "chat.event", "room": str(room.pk), "seq": seq, "text": text}
    if membership_action == "removed":
        # The removed person's sockets must handle this one in order with
        # their own group's notice (chat/consumers.py, _direct).
        group_message["removes"] = [str(user_id) for user_id in notify_user_ids]
    send_on_commit(room_group(room.pk), group_message)
    for user_id in notify_user_ids:
        send_on_commit(
            user_group(user_id),
            {
                "type": "chat.membership",
                "action": membership_action,
                "room": str(room.pk),
                "seq": seq,
                "text": text,
            },
        )


def send_ephemeral(room_id, frame: dict) -> None:
    """Typing, read and presence notices: broadcast (after commit if in a transaction), never logged."""
    send_on_commit(room_group(room_id), {"type": "chat.ephemeral", "text": encode(frame)})


def disconnect_user(user_id, *, reason: str) -> None:
    """Ask every socket of the user to close (logout, deactivation)."""
    send_on_commit(user_group(user_id), {"type": "chat.disconnect", "reason": reason})


def send_to_user(user_id, frame: dict) -> None:
    send_on_commit(user_group(user_id), {"type": "chat.ephemeral", "text": encode(frame)})


def replay(events: list[RoomEvent]) -> list[dict]:
    """Frames for logged events, messages rendered from their current state."""
    messages = [event.message for event in events if event.message_id is not None]
    rendered = dict(zip((m.pk for m in messages), message_payloads(messages), strict=True))
    frames = []
    for event in events:
        frame = {"type": event.kind, "room": str(event.room_id), "seq": event.seq, **event.payload}
        if event.message_id is not None:
            frame["message"] = rendered[event.message_id]
        frames.append(frame)
    return frames
