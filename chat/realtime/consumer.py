"""The WebSocket: one socket per client at /ws/chat/, events of all the user's rooms.

Protocol (docs/realtime.md): JSON text frames. Client frames carry ``type``
and an optional ``ref`` echoed in the ``ack`` or ``error`` answering them.
Writes go through chat.inputs -> chat.services, exactly as over REST.

Delivery: per room the consumer keeps the last seq it delivered (``cursor``).
A logged event at or below it is a duplicate and dropped; one past a gap makes
the consumer read the missing events from the room log first, so each room's
events reach the client in seq order, exactly once, whatever the channel
layer dropped or reordered. ``sync`` replays from the client's own last seen
seq; connecting with ``?sync=1`` holds live events until that first ``sync``
has been answered, so a resuming client sees no event out of order.
"""

import asyncio
import json
import logging
import uuid

from concurrent.futures import ThreadPoolExecutor

from channels.db import DatabaseSyncToAsync
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.exceptions import ValidationError as DRFValidationError

from . import events, inputs, presence, ratelimit, selectors
from .api import serializers as s
from chatsite.core.exceptions import ChatError, Invalid, NotFound
from .models import ChatMember, ChatRoom
from .events.render import user_payload

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_MANY_SOCKETS = 4429
CLOSE_LOGGED_OUT = 4001
CLOSE_LAYER_LOST = 4012  # the server lost Redis: reconnect and sync (1012 cannot be sent by daphne)
TYPING_TTL = 6.0
MAX_REF_LENGTH = 64
SYNC_HOLD_SECONDS = 10.0
MAX_HELD_EVENTS = 1000


# Database work of sockets runs on a pool of threads, in parallel across sockets
# (Channels' default, thread_sensitive, runs all of a process's database calls
# one after another on one thread: a queue under load). One socket's frames
# still run one at a time: the consumer awaits each before the next.
_db_executor = ThreadPoolExecutor(max_workers=settings.CHAT_DB_THREADS, thread_name_prefix="chat-db")


def database_sync_to_async(func):
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_db_executor)


def _frame_error(ref, code, detail, **extra) -> dict:
    frame = {"type": "error", "code": code, "detail": detail}
    if ref is not None:
        frame["ref"] = ref
    frame.update(extra)
    return frame


def _validate(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _room_id(frame) -> str:
    try:
        return str(uuid.UUID(str(frame.get("room"))))
    except (ValueError, TypeError):
        raise Invalid("room must be a room id.", code="invalid", fields={"room": ["A room id."]}) from None


class ChatConsumer(AsyncWebsocketConsumer):
    user = None
    user_id = None

    # --- connection ---------------------------------------------------------
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user, self.user_id = user, str(user.pk)
        self.cursors: dict[str, int] = {}
        self.typing_timers: dict[str, asyncio.TimerHandle] = {}
        self.holding = b"sync=1" in self.scope.get("query_string", b"").split(b"&")
        self.held: list[dict] = []
        self.hold_timer = None
        self.registered = False
        self.busy = 1  # > 0 while connecting or replaying from the log: live events wait in the queue
        self.leaving: set[str] = set()  # rooms whose removal of this user is on its way
        await self.accept()
        if await presence.live_sockets(self.user_id) >= settings.CHAT_MAX_SOCKETS_PER_USER:
            await self.send_frame(_frame_error(None, "too_many_sockets", "Too many connections for this user."))
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        if hasattr(self.channel_layer, "set_direct"):
            self.channel_layer.set_direct(self.channel_name, self._direct)
        await self.channel_layer.group_add(events.user_group(self.user_id), self.channel_name)
        room_ids = await self._room_ids()
        await asyncio.gather(*(self.channel_layer.group_add(events.room_group(r), self.channel_name) for r in room_ids))
        seqs = await self._room_seqs(room_ids)
        self.cursors = dict(seqs)
        first_socket = await presence.socket_opened(self) == 1
        self.registered = True
        await self.send_frame(
            {
                "type": "hello",
                "user": user_payload(self.user),
                "rooms": [{"id": room_id, "seq": seq} for room_id, seq in seqs.items()],
                "sync_required": self.holding,
            }
        )
        if self.holding:
            self.hold_timer = asyncio.get_running_loop().call_later(SYNC_HOLD_SECONDS, self._hold_expired)
        self.busy -= 1  # hello is out: events may go the fast way (what came meanwhile is queued, in order)
        if first_socket:
            await self._announce_presence("online")

    @database_sync_to_async
    def _room_ids(self) -> list[str]:
        return [
            str(room_id)
            for room_id in ChatMember.objects.filter(user_id=self.user_id, is_active=True).values_list("room_id", flat=True)
        ]

    @database_sync_to_async
    def _room_seqs(self, room_ids) -> dict[str, int]:
        return {str(pk): seq for pk, seq in ChatRoom.objects.filter(pk__in=room_ids).values_list("pk", "seq")}

    async def disconnect(self, code):
        if hasattr(self.channel_layer, "discard_channel") and self.channel_name:
            self.channel_layer.discard_channel(self.channel_name)
        for timer in getattr(self, "typing_timers", {}).values():
            timer.cancel()
        if self.hold_timer is not None:
            self.hold_timer.cancel()
        if not self.registered:
            return
        try:
            for room_id in list(self.typing_timers):
                self._typing_broadcast(room_id, False)
            remaining = await presence.socket_closed(self)
            if remaining == 0:
                await self._announce_presence("offline")
            await self.channel_layer.group_discard(events.user_group(self.user_id), self.channel_name)
            await asyncio.gather(
                *(self.channel_layer.group_discard(events.room_group(r), self.channel_name) for r in self.cursors),
                return_exceptions=True,
            )
        except (RedisError, OSError):
            logger.info("cleanup of socket %s skipped: Redis unreachable", self.channel_name)

    async def __call__(self, scope, receive, send):
        # A Redis restart makes the layer's receive() raise: close this socket
        # cleanly (1012, "service restart") so the client reconnects and syncs.
        try:
            await super().__call__(scope, receive, send)
        except (RedisError, OSError):
            logger.warning("channel layer lost; closing socket %s", getattr(self, "channel_name", "?"))
            try:
                await send({"type": "websocket.close", "code": CLOSE_LAYER_LOST})
            except Exception:  # noqa: BLE001 - the client may be gone already
                logger.info("could not close socket %s", getattr(self, "channel_name", "?"), exc_info=True)

    async def dispatch(self, message):
        # Layer events carry pre-encoded frames and need no database: skip
        # Channels' per-event hop into a worker thread (aclose_old_connections).
        handler = self._layer_handlers.get(message["type"])
        if handler is not None:
            await handler(self, message)
            return
        await super().dispatch(message)

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=events.encode(frame))

    # --- client frames ------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            await self.send_frame(_frame_error(None, "invalid_frame", "Only JSON text frames are accepted."))
            return
        if len(text_data) > settings.CHAT_MAX_FRAME_BYTES:
            await self.send_frame(
                _frame_error(None, "frame_too_large", f"Frames are limited to {settings.CHAT_MAX_FRAME_BYTES:,} bytes.")
            )
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self.send_frame(_frame_error(None, "invalid_json", "The frame is not valid JSON."))
            return
        if not isinstance(frame, dict):
            await self.send_frame(_frame_error(None, "invalid_frame", "A frame is a JSON object with a type."))
            return
        ref = frame.get("ref")
        if ref is not None and (not isinstance(ref, (str, int)) or isinstance(ref, bool) or len(str(ref)) > MAX_REF_LENGTH):
            await self.send_frame(_frame_error(None, "invalid_ref", f"ref is a string or number of at most {MAX_REF_LENGTH} characters."))
            return
        handler = self._frame_handlers.get(frame.get("type"))
        if handler is None:
            await self.send_frame(_frame_error(ref, "unknown_type", f"Unknown frame type {str(frame.get('type'))[:40]!r}."))
            return
        try:
            result = await handler(self, frame)
        except ChatError as exc:
            extra = {"retry_after": exc.retry_after} if hasattr(exc, "retry_after") else {}
            if exc.fields:
                extra["fields"] = exc.fields
            await self.send_frame(_frame_error(ref, exc.code, exc.detail, **extra))
            return
        except DRFValidationError as exc:
            fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            await self.send_frame(
                _frame_error(ref, "invalid", "Invalid frame.", fields={k: [str(v) for v in (vs if isinstance(vs, list) else [vs])] for k, vs in fields.items()})
            )
            return
        if result is not None:
            ack = {"type": "ack", "result": result}
            if ref is not None:
                ack["ref"] = ref
            await self.send_frame(ack)
        if self.holding and frame.get("type") != "ping":
            await self._release_hold()

    def _require_room(self, room_id: str) -> None:
        if room_id not in self.cursors:
            raise NotFound("Room not found.", code="room_not_found")

    async def on_message_send(self, frame):
        room_id = _room_id(frame)
        data = _validate(s.MessageSendInputSerializer, frame)
        message, created = await database_sync_to_async(inputs.message_send)(user=self.user, room_id=room_id, data=data)
        return {"message": message, "created": created}

    async def on_message_edit(self, frame):
        data = _validate(s.MessageEditInputSerializer, frame)
        message_id = _validate(s.MessageRefInputSerializer, frame)["message_id"]
        message = await database_sync_to_async(inputs.message_edit)(user=self.user, message_id=message_id, content=data["content"])
        return {"message": message}

    async def on_message_delete(self, frame):
        message_id = _validate(s.MessageRefInputSerializer, frame)["message_id"]
        message = await database_sync_to_async(inputs.message_delete)(user=self.user, message_id=message_id)
        return {"message": message}

    async def on_reaction_add(self, frame):
        message_id = _validate(s.MessageRefInputSerializer, frame)["message_id"]
        data = _validate(s.ReactionInputSerializer, frame)
        counts, created = await database_sync_to_async(inputs.reaction_add)(
            user=self.user, message_id=message_id, reaction=data["reaction"]
        )
        return {"message_id": str(message_id), "reactions": counts, "created": created}

    async def on_reaction_remove(self, frame):
        message_id = _validate(s.MessageRefInputSerializer, frame)["message_id"]
        data = _validate(s.ReactionInputSerializer, frame)
        counts = await database_sync_to_async(inputs.reaction_remove)(user=self.user, message_id=message_id, reaction=data["reaction"])
        return {"message_id": str(message_id), "reactions": counts}

    async def on_read(self, frame):
        room_id = _room_id(frame)
        data = _validate(s.ReadInputSerializer, frame)
        return await database_sync_to_async(inputs.room_mark_read)(user=self.user, room_id=room_id, seq=data["seq"])

    async def on_typing(self, frame):
        room_id = _room_id(frame)
        self._require_room(room_id)
        is_typing = frame.get("is_typing", True)
        if not isinstance(is_typing, bool):
            raise Invalid("is_typing must be true or false.", code="invalid", fields={"is_typing": ["A boolean."]})
        await database_sync_to_async(ratelimit.check)(kind="typing", user=self.user)
        timer = self.typing_timers.pop(room_id, None)
        if timer is not None:
            timer.cancel()
        if is_typing:
            # Typing ends on its own unless the client repeats it.
            self.typing_timers[room_id] = asyncio.get_running_loop().call_later(
                TYPING_TTL, self._typing_expired, room_id
            )
        self._typing_broadcast(room_id, is_typing)
        return None

    def _typing_expired(self, room_id):
        self.typing_timers.pop(room_id, None)
        self._typing_broadcast(room_id, False)

    def _typing_broadcast(self, room_id, is_typing: bool):
        frame = {
            "type": "typing",
            "room": room_id,
            "user": user_payload(self.user),
            "is_typing": is_typing,
            "expires_in": TYPING_TTL if is_typing else 0,
        }
        asyncio.ensure_future(self._group_send_quietly(events.room_group(room_id), {"type": "chat.ephemeral", "text": events.encode(frame)}))

    async def _group_send_quietly(self, group, message):
        try:
            await self.channel_layer.group_send(group, message)
        except Exception:  # noqa: BLE001 - ephemeral notices are best-effort
            logger.info("ephemeral send to %s failed", group)

    async def on_presence(self, frame):
        status = frame.get("status")
        if status not in presence.STATUSES:
            raise Invalid("status is online or away.", code="invalid", fields={"status": ["online or away"]})
        await presence.set_status(self.user_id, status)
        await self._announce_presence(status)
        return {"status": status}

    async def _announce_presence(self, status):
        frame = {"type": "presence", "user": user_payload(self.user), "status": status}
        text = events.encode(frame)
        await asyncio.gather(
            *(self._group_send_quietly(events.room_group(r), {"type": "chat.ephemeral", "text": text}) for r in self.cursors)
        )

    async def on_ping(self, frame):
        await self.send_frame({"type": "pong", **({"ref": frame["ref"]} if frame.get("ref") is not None else {})})
        return None

    async def on_sync(self, frame):
        rooms = frame.get("rooms")
        if not isinstance(rooms, dict) or len(rooms) > 5000:
            raise Invalid("rooms is an object {room_id: last seen seq}.", code="invalid", fields={"rooms": ["An object."]})
        result = {}
        for raw_id, last_seen in rooms.items():
            try:
                room_id = str(uuid.UUID(str(raw_id)))
            except ValueError:
                result[str(raw_id)[:40]] = "not_found"
                continue
            if room_id not in self.cursors:
                result[room_id] = "not_found"
                continue
            if isinstance(last_seen, bool) or not isinstance(last_seen, int) or last_seen < 0:
                result[room_id] = "invalid_seq"
                continue
            result[room_id] = await self._replay(room_id, last_seen)
        return {"rooms": result}

    async def _replay(self, room_id: str, after: int):
        """Send the room's logged events after ``after``; returns the new cursor or a status."""
        self.busy += 1
        try:
            return await self._replay_events(room_id, after)
        finally:
            self.busy -= 1

    async def _replay_events(self, room_id: str, after: int):
        while True:
            try:
                frames, has_more, room_seq = await self._events_since(room_id, after)
            except selectors.ResyncRequired as exc:
                self.cursors[room_id] = exc.room.seq
                await self.send_frame({"type": "resync_required", "room": room_id, "seq": exc.room.seq})
                return "resync_required"
            except NotFound:
                return "not_found"
            for frame in frames:
                await self.send(text_data=events.encode(frame))
                after = frame["seq"]
            if not has_more:
                self.cursors[room_id] = max(after, min(self.cursors.get(room_id, 0), room_seq))
                return self.cursors[room_id]

    @database_sync_to_async
    def _events_since(self, room_id, after):
        room = selectors.room_get_for_member(room_id=room_id, user=self.user)
        frames, has_more = selectors.events_since(room=room, after=after)
        return frames, has_more, room.seq

    async def _release_hold(self):
        self.holding = False
        if self.hold_timer is not None:
            self.hold_timer.cancel()
            self.hold_timer = None
        held, self.held = self.held, []
        for message in held:
            await self._deliver(message)

    def _hold_expired(self):
        self.hold_timer = None
        if self.holding:
            asyncio.ensure_future(self._release_hold())

    # --- layer events -------------------------------------------------------
    async def _direct(self, message) -> bool:
        """The fan-out's fast path (chat.layer): called by the layer's receiving
        task for each message to this socket. An event that is simply the next
        one of its room goes straight out; anything else (a gap, a hold, a
        replay under way, a membership change) returns False and waits in the
        channel's queue for this consumer's own task, in order."""
        kind = message["type"]
        if kind == "chat.event":
            room_id = message["room"]
            if self.user_id in message.get("removes", ()):
                self.leaving.add(room_id)  # until the removal is handled, this room goes the slow way
                return False
            if self.busy or self.holding or room_id in self.leaving or self.cursors.get(room_id) != message["seq"] - 1:
                return False
            self.cursors[message["room"]] = message["seq"]
            await self._send_live(message["text"])
            return True
        if kind == "chat.ephemeral" and not self.busy:  # never before hello
            await self._send_live(message["text"])
            return True
        return False

    async def _send_live(self, text: str) -> None:
        try:
            await self.send(text_data=text)
        except OSError:  # the client is gone (uvicorn says so; daphne drops it): disconnect follows
            pass

    async def chat_event(self, message):
        if self.holding:
            if len(self.held) < MAX_HELD_EVENTS:
                self.held.append(message)
            return
        await self._deliver(message)

    async def _deliver(self, message):
        room_id, seq = message["room"], message["seq"]
        cursor = self.cursors.get(room_id)
        if cursor is None or seq <= cursor:
            return
        if seq > cursor + 1:
            # The layer dropped or reordered something: fill the gap from the log.
            await self._replay(room_id, cursor)
            if self.cursors.get(room_id, 0) >= seq:
                return
        self.cursors[room_id] = seq
        await self.send(text_data=message["text"])

    async def chat_membership(self, message):
        room_id = message["room"]
        self.leaving.discard(room_id)
        if message["action"] == "added":
            if room_id not in self.cursors:
                await self.channel_layer.group_add(events.room_group(room_id), self.channel_name)
                self.cursors[room_id] = message["seq"] - 1
                await self._deliver(message)
                # Events committed before the group join were broadcast without
                # us: read them from the log; later ones arrive live.
                await self._replay(room_id, self.cursors[room_id])
            else:
                await self._deliver(message)
        elif message["action"] == "removed" and room_id in self.cursors:
            await self._deliver(message)
            self.cursors.pop(room_id, None)
            timer = self.typing_timers.pop(room_id, None)
            if timer is not None:
                timer.cancel()
            await self.channel_layer.group_discard(events.room_group(room_id), self.channel_name)

    async def chat_ephemeral(self, message):
        await self.send(text_data=message["text"])

    async def chat_disconnect(self, message):
        await self.send_frame({"type": "disconnected", "reason": message.get("reason", "")})
        await self.close(code=CLOSE_LOGGED_OUT)

    _layer_handlers = {
        "chat.event": chat_event,
        "chat.membership": chat_membership,
        "chat.ephemeral": chat_ephemeral,
    }
    _frame_handlers = {
        "message.send": on_message_send,
        "message.edit": on_message_edit,
        "message.delete": on_message_delete,
        "reaction.add": on_reaction_add,
        "reaction.remove": on_reaction_remove,
        "typing": on_typing,
        "read": on_read,
        "sync": on_sync,
        "presence": on_presence,
        "ping": on_ping,
    }
