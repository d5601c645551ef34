"""The room event log: every change members must see is a row here, with the
room's next gap-free ``seq``, written in the same transaction as the change.

Services call :func:`append` after allocating the seq under the room lock. It
writes the row, renders the frame once and hands the encoded text to
:mod:`chat.events.broadcast`, which publishes it after commit; the command that
called the service answers its client with the same rendering
(:func:`chat.events.render.message_json` keeps it on the message).

The row keeps the event's own fields (``payload``) and a reference to the
message instead of its content: content stays encrypted at rest, and a replay
(:func:`replay`) renders messages as they are now, so a message deleted since
is replayed deleted.
"""

from dataclasses import dataclass

from ..models import ChatMessage, ChatRoom, RoomEvent
from . import broadcast, render, wire


@dataclass(frozen=True, slots=True)
class Event:
    room_id: str
    seq: int
    kind: str
    text: str  # the frame as sent to every socket of the room


def append(
    *,
    room: ChatRoom,
    seq: int,
    kind: str,
    body: dict | None = None,
    message: ChatMessage | None = None,
    added_user_ids: tuple = (),
    removed_user_ids: tuple = (),
) -> Event:
    """Log one room event and broadcast it after commit.

    ``body`` holds the kind's own fields; a message event passes ``message``,
    rendered into the frame as ``message``. ``added_user_ids`` /
    ``removed_user_ids`` also get the frame on their own group, telling their
    sockets to join or leave the room's group.
    """
    assert kind in wire.LOGGED_KINDS, kind
    body = body or {}
    RoomEvent.objects.bulk_create([RoomEvent(room_id=room.pk, seq=seq, kind=kind, payload=body, message=message)])
    return announce(
        room=room, seq=seq, kind=kind, body=body, message=message,
        added_user_ids=added_user_ids, removed_user_ids=removed_user_ids,
    )


def announce(
    *,
    room: ChatRoom,
    seq: int,
    kind: str,
    body: dict | None = None,
    message: ChatMessage | None = None,
    added_user_ids: tuple = (),
    removed_user_ids: tuple = (),
) -> Event:
    """Render and broadcast (after commit) an event whose log row is written:
    by :func:`append`, or by the message insert's own statement
    (chat.services.store)."""
    body = body or {}
    frame = {"type": kind, "room": str(room.pk), "seq": seq, **body}
    if message is not None:
        frame["message"] = wire.Raw(render.message_json(message, fresh=True))
    text = wire.encode(frame)
    broadcast.room_event(room_id=room.pk, seq=seq, text=text, removed_user_ids=removed_user_ids)
    for user_id in added_user_ids:
        broadcast.membership(user_id=user_id, action="added", room_id=room.pk, seq=seq, text=text)
    for user_id in removed_user_ids:
        broadcast.membership(user_id=user_id, action="removed", room_id=room.pk, seq=seq, text=text)
    return Event(room_id=str(room.pk), seq=seq, kind=kind, text=text)


def replay(rows: list[RoomEvent]) -> list[dict]:
    """Frames for logged rows, messages rendered from their current state."""
    messages = [row.message for row in rows if row.message_id is not None]
    rendered = dict(zip((m.pk for m in messages), render.message_payloads(messages), strict=True))
    frames = []
    for row in rows:
        frame = {"type": row.kind, "room": str(row.room_id), "seq": row.seq, **row.payload}
        if row.message_id is not None:
            frame["message"] = rendered[row.message_id]
        frames.append(frame)
    return frames
