"""The WebSocket: one socket per client at /ws/chat/, events of all the user's rooms.

Protocol (docs/realtime.md): JSON text frames. Client frames carry ``type``
and an optional ``ref`` echoed in the ``ack`` or ``error`` answering them.
This module is the edge only: frames are read and checked by
:mod:`.protocol`, writes go through :mod:`chat.commands` (on a pool of
database threads), everything other sockets must hear goes out through
:mod:`chat.events.broadcast`. What reaches this socket, in which order, is
decided by :class:`.delivery.Delivery` (per-room cursors, gap fill, the
``?sync=1`` hold); every frame to the client goes through one bounded
:class:`.send_buffer.SendBuffer` (a client that stops reading is closed with 4008).
"""

import asyncio
import functools
import logging

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError

from accounts.sessions import session_id_of_scope
from chatsite.core import metrics, overload, request_log
from chatsite.core.db_threads import database_sync_to_async
from chatsite.core.exceptions import ChatError, NotFound, Unavailable

from .. import commands, presence, selectors
from ..events import broadcast, wire
from ..events.render import user_payload
from ..models import ChatMember
from . import protocol
from .delivery import FILL, SEND, Delivery
from .disconnects import client_gone
from .replays import SharedReads
from .send_buffer import SendBuffer, limits, watch_daphne_transport

logger = logging.getLogger(__name__)

TYPING_TTL = 6.0
SYNC_HOLD_SECONDS = 10.0

# Client frames refused while the process is overloaded (chatsite/core/overload.py):
# the writes. What brings a client up to date (sync), ping, and read positions
# (cheap, and they take work away: notifications cancelled) still go on.
SHEDDABLE = frozenset({"message.send", "message.edit", "message.delete", "reaction.add", "reaction.remove", "typing"})

# A room's log read once per room and starting seq for every socket of this
# process that needs it at the same moment (gap fills, a reconnecting crowd's sync).
_shared_reads = SharedReads(weigh=lambda log: sum(len(text) for _seq, text in log.frames) if log is not None else 1)


@database_sync_to_async
def _read_log(room_id: str, after: int):
    return selectors.room_log_since(room_id=room_id, after=after)


class ChatConsumer(AsyncWebsocketConsumer):
    user = None
    user_id = None
    delivery: Delivery | None = None
    send_buffer: SendBuffer | None = None
    registered = False
    hold_timer = None
    session_id: str | None = None  # the signed-in session (accounts/sessions.py), if known
    session_log: request_log.SocketSession | None = None  # the open and close log lines
    frames_in = frames_out = 0

    # --- connection ---------------------------------------------------------
    async def connect(self):
        self.session_log = request_log.websocket_begin(self.scope)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            metrics.handshake("unauthenticated")
            await self.close(code=wire.CLOSE_UNAUTHENTICATED)
            return
        self.user, self.user_id = user, str(user.pk)
        if self.scope.get("auth") == "ticket":
            self.session_id = self.scope.get("device_session")  # read with the ticket
        else:
            self.session_id = await database_sync_to_async(session_id_of_scope)(self.scope)
        overload.gauge.ensure_monitor()
        # (room id, thread root id or None) -> the timer that ends the typing notice
        self.typing_timers: dict[tuple, asyncio.TimerHandle] = {}
        holding = b"sync=1" in self.scope.get("query_string", b"").split(b"&")
        self.delivery = Delivery(self.user_id, holding=holding)
        await self.accept()
        request_log.websocket_opened(self.session_log, user_id=self.user_id)
        max_frames, max_bytes = limits()
        self.send_buffer = SendBuffer(self.base_send, max_frames=max_frames, max_bytes=max_bytes, on_overflow=self._too_slow)
        watch_daphne_transport(self.base_send, self.send_buffer)
        self.send_buffer.start()
        if await presence.live_sockets(self.user_id) >= settings.CHAT_MAX_SOCKETS_PER_USER:
            metrics.handshake("too_many_sockets")
            self.send_frame(protocol.error_frame(None, "too_many_sockets", "Too many connections for this user."))
            self.send_buffer.put_close(wire.CLOSE_TOO_MANY_SOCKETS)
            return
        broadcast.attach_direct(self, self._direct)
        await broadcast.join(self, wire.user_group(self.user_id))
        room_ids = await self._room_ids()
        # Joined before the seqs are read: an event committed in between comes
        # both ways, never neither (the cursor drops the copy).
        await asyncio.gather(*(broadcast.join(self, wire.room_group(r)) for r in room_ids))
        rooms = await self._room_attention(room_ids)
        seqs = {room["id"]: room["seq"] for room in rooms}
        first_socket = await presence.socket_opened(self)  # not present a moment ago (chat/presence.py)
        self.registered = True
        metrics.websocket_opened()
        self.send_frame(
            {
                "type": wire.HELLO,
                "user": user_payload(self.user),
                "rooms": rooms,
                "sync_required": holding,
            }
        )
        if holding:
            self.hold_timer = asyncio.get_running_loop().call_later(SYNC_HOLD_SECONDS, self._hold_expired)
        # hello is out: events may go the fast way (what came meanwhile is queued, in order)
        self.delivery.start(seqs)
        if first_socket:
            await self._announce_presence("online")

    @database_sync_to_async
    def _room_ids(self) -> list[str]:
        return [
            str(room_id)
            for room_id in ChatMember.objects.filter(user_id=self.user_id, is_active=True).values_list("room_id", flat=True)
        ]

    @database_sync_to_async
    def _room_attention(self, room_ids) -> list[dict]:
        """Each room's seq with the user's counts as of it (the hello's rooms)."""
        return [
            {"id": row["room"], "seq": row["seq"], "last_read_seq": row["last_read_seq"],
             "unread_count": row["unread_count"], "mention_count": row["mention_count"]}
            for row in selectors.attention(user=self.user_id, room_ids=room_ids)
        ]

    async def disconnect(self, code):
        if not self.registered:
            await self._clean_up(code)
            return
        presence.socket_closing(self)  # at once, before any await: no longer counts against the cap
        try:
            await self._clean_up(code)
        finally:
            presence.forget_closing(self)

    async def _clean_up(self, code):
        request_log.websocket_closed(self.session_log, code=code, frames_in=self.frames_in, frames_out=self.frames_out)
        broadcast.detach_direct(self)
        for timer in getattr(self, "typing_timers", {}).values():
            timer.cancel()
        if self.hold_timer is not None:
            self.hold_timer.cancel()
        if self.send_buffer is not None:
            await self.send_buffer.stop()
        if not self.registered:
            return
        metrics.websocket_closed()
        try:
            for room_id, thread in list(self.typing_timers):
                self._typing_broadcast(room_id, False, thread)
            remaining = await presence.socket_closed(self)
            if remaining == 0:
                # "offline" once the grace period is over, unless they are back by then.
                presence.when_gone(self.user_id, functools.partial(self._announce_presence, rooms=self.delivery.rooms))
            await broadcast.leave(self, wire.user_group(self.user_id))
            await asyncio.gather(
                *(broadcast.leave(self, wire.room_group(r)) for r in self.delivery.rooms), return_exceptions=True
            )
        except (RedisError, OSError):
            logger.info("cleanup of socket %s skipped: Redis unreachable", self.channel_name)

    async def __call__(self, scope, receive, send):
        # A Redis restart makes the layer's receive() raise: close this socket
        # (4012) so the client reconnects and syncs.
        try:
            await super().__call__(scope, receive, send)
        except (RedisError, OSError) as error:
            if client_gone(error):  # uvicorn: the client left while a frame was written; Redis is fine
                logger.debug("client of socket %s went away", getattr(self, "channel_name", "?"))
                return
            logger.warning("channel layer lost; closing socket %s", getattr(self, "channel_name", "?"))
            request_log.websocket_closed(
                self.session_log, code=wire.CLOSE_LAYER_LOST, frames_in=self.frames_in, frames_out=self.frames_out
            )
            if self.send_buffer is not None:
                await self.send_buffer.stop()
            try:
                await send({"type": "websocket.close", "code": wire.CLOSE_LAYER_LOST})
            except Exception:
                logger.info("could not close socket %s", getattr(self, "channel_name", "?"), exc_info=True)

    async def dispatch(self, message):
        # Layer events carry pre-encoded frames and need no database: skip
        # Channels' per-event hop into a worker thread (aclose_old_connections).
        handler = self._layer_handlers.get(message["type"])
        if handler is not None:
            await handler(self, message)
            return
        if message["type"] == "websocket.receive":
            # A client frame: the same, and its command's database work runs on
            # the pool's thread, which closes old connections itself (one hop
            # per frame, not two).
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    def send_frame(self, frame: dict) -> None:
        self.send_text(wire.encode(frame))

    def send_text(self, text: str) -> None:
        """Every frame to the client goes through the send buffer (never waits)."""
        if self.send_buffer is not None:
            self.frames_out += 1
            self.send_buffer.put(text)

    def _too_slow(self, frames: int, size: int) -> None:
        """The send buffer overflowed (it closes with 4008): stop taking events."""
        logger.warning(
            "socket %s of user %s too slow (%d frames, %d bytes queued): closing with %d",
            self.channel_name,
            self.user_id,
            frames,
            size,
            wire.CLOSE_TOO_SLOW,
        )
        broadcast.detach_direct(self)
        metrics.slow_reader_closed()

    # --- client frames ------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        self.frames_in += 1
        try:
            frame = protocol.parse(text_data, max_bytes=settings.CHAT_MAX_FRAME_BYTES)
        except protocol.FrameError as exc:
            self.send_frame(protocol.error_frame(exc.ref, exc.code, exc.detail))
            return
        ref = frame.get("ref")
        if frame["type"] in SHEDDABLE and overload.gauge.overloaded():
            # Refused before any work: nothing stored; the client retries later.
            metrics.overload_refused("websocket")
            self.send_frame(
                protocol.error_frame(ref, overload.CODE, overload.DETAIL, retry_after=overload.retry_after())
            )
            return
        try:
            result = await self._frame_handlers[frame["type"]](self, frame)
        except ChatError as exc:
            extra = {"retry_after": exc.retry_after} if hasattr(exc, "retry_after") else {}
            if exc.fields:
                extra["fields"] = exc.fields
            self.send_frame(protocol.error_frame(ref, exc.code, exc.detail, **extra))
            return
        if result is not None:
            ack = {"type": wire.ACK, "result": result}
            if ref is not None:
                ack["ref"] = ref
            self.send_frame(ack)
        if self.delivery.holding and frame["type"] != "ping":
            await self._release_hold()

    def _require_room(self, room_id: str) -> None:
        if not self.delivery.follows(room_id):
            raise NotFound("Room not found.", code="room_not_found")

    async def _command(self, command, **kwargs):
        try:
            return await database_sync_to_async(command)(actor=self.user, **kwargs)
        except (OperationalError, InterfaceError):
            # PostgreSQL is away: the client gets an error frame and may retry
            # (with its client_msg_id); the socket stays open.
            logger.warning("database unavailable for a %s", command.__name__)
            raise Unavailable("The database is unavailable right now; try again in a few seconds.", code="database_unavailable") from None

    async def on_message_send(self, frame):
        result = await self._command(commands.message_send, **protocol.message_send_args(frame))
        return {"message": wire.Raw(result.json), "created": result.created}

    async def on_message_edit(self, frame):
        result = await self._command(commands.message_edit, **protocol.message_edit_args(frame))
        return {"message": wire.Raw(result.json)}

    async def on_message_delete(self, frame):
        result = await self._command(commands.message_delete, message_id=protocol.message_id_arg(frame))
        return {"message": wire.Raw(result.json)}

    async def on_reaction_add(self, frame):
        args = protocol.reaction_args(frame)
        counts, created = await self._command(commands.reaction_add, **args)
        return {"message_id": str(args["message_id"]), "reactions": counts, "created": created}

    async def on_reaction_remove(self, frame):
        args = protocol.reaction_args(frame)
        counts = await self._command(commands.reaction_remove, **args)
        return {"message_id": str(args["message_id"]), "reactions": counts}

    async def on_read(self, frame):
        return await self._command(commands.room_mark_read, **protocol.read_args(frame))

    async def on_thread_read(self, frame):
        return await self._command(commands.thread_mark_read, **protocol.thread_read_args(frame))

    async def on_typing(self, frame):
        room_id = protocol.room_id(frame)
        self._require_room(room_id)
        is_typing = protocol.typing_is_typing(frame)
        thread = protocol.typing_thread(frame)
        await self._command(commands.typing)
        key = (room_id, thread)
        timer = self.typing_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if is_typing:
            # Typing ends on its own unless the client repeats it.
            self.typing_timers[key] = asyncio.get_running_loop().call_later(TYPING_TTL, self._typing_expired, key)
        self._typing_broadcast(room_id, is_typing, thread)

    def _typing_expired(self, key):
        self.typing_timers.pop(key, None)
        self._typing_broadcast(key[0], False, key[1])

    def _typing_broadcast(self, room_id, is_typing: bool, thread: str | None = None):
        frame = {
            "type": wire.TYPING,
            "room": room_id,
            "thread": thread,
            "user": user_payload(self.user),
            "is_typing": is_typing,
            "expires_in": TYPING_TTL if is_typing else 0,
        }
        asyncio.ensure_future(broadcast.ephemeral_async(self, room_id, frame))

    async def on_presence(self, frame):
        status = protocol.presence_status(frame)
        await presence.set_status(self.user_id, status)
        await self._announce_presence(status)
        return {"status": status}

    async def _announce_presence(self, status, *, rooms=None):
        frame = {"type": wire.PRESENCE, "user": user_payload(self.user), "status": status}
        await asyncio.gather(
            *(broadcast.ephemeral_async(self, r, frame) for r in (self.delivery.rooms if rooms is None else rooms))
        )

    async def on_ping(self, frame):
        self.send_frame({"type": wire.PONG, **({"ref": frame["ref"]} if frame.get("ref") is not None else {})})

    async def on_sync(self, frame):
        result = {}
        for raw_id, last_seen in protocol.sync_rooms(frame).items():
            room_id = protocol.sync_room_id(raw_id)
            if room_id is None or not self.delivery.follows(room_id):
                result[room_id or str(raw_id)[:40]] = "not_found"
            elif not protocol.valid_seq(last_seen):
                result[room_id] = "invalid_seq"
            elif last_seen == self.delivery.cursor(room_id) and not self.delivery.replaying:
                # The client has what this socket sent it (the hello's seq, or
                # later live events): nothing in the log to read. Events since
                # are on their way or held, and go out in order. A reconnecting
                # crowd mostly asks this.
                result[room_id] = last_seen
            else:
                metrics.replayed("sync")
                result[room_id] = await self._replay(room_id, last_seen, at_least=self.delivery.cursor(room_id))
        return {"rooms": result}

    async def _replay(self, room_id: str, after: int, *, at_least: int, alone: bool = False):
        """Send the room's logged events after ``after``; the new cursor or a status.
        ``at_least``: a seq this socket knows was committed (its cursor, or the
        event past a gap less one): a shared read that does not reach it is older
        than what it must fill, and is made again. ``alone``: only a read begun
        now will do (the socket has just joined the room's group: what was
        committed before that moment must be in it)."""
        self.delivery.replay_started()
        try:
            while True:
                if alone:
                    found = await _read_log(room_id, after)
                else:
                    found = await _shared_reads.get(
                        (room_id, after), functools.partial(_read_log, room_id, after),
                        usable=lambda log: log is not None and log.room_seq >= at_least and self.user_id in log.members,
                    )
                if found is not None and (self.user_id not in found.members or found.room_seq < at_least):
                    # A read that began before this user was added, or before the
                    # event that revealed the gap was committed: again, alone.
                    found = await _read_log(room_id, after)
                if found is None or self.user_id not in found.members:
                    return "not_found"
                if found.resync:
                    self.delivery.resync(room_id, found.room_seq)
                    metrics.resync_required()
                    self.send_frame({"type": wire.RESYNC_REQUIRED, "room": room_id, "seq": found.room_seq})
                    return "resync_required"
                metrics.replayed_events(len(found.frames))
                for seq, text in found.frames:
                    # Paced: waits while the client's buffer is half full, so a long
                    # replay to a healthy client never trips the limit.
                    if not await self.send_buffer.put_paced(text):
                        return "not_found"  # the socket is closing
                    self.frames_out += 1
                    after = seq
                if not found.has_more:
                    return self.delivery.replayed(room_id, after=after, room_seq=found.room_seq)
        finally:
            self.delivery.replay_finished()

    async def _release_hold(self):
        if self.hold_timer is not None:
            self.hold_timer.cancel()
            self.hold_timer = None
        for message in self.delivery.release():
            await self._deliver(message)

    def _hold_expired(self):
        self.hold_timer = None
        if self.delivery.holding:
            asyncio.ensure_future(self._release_hold())

    # --- layer events -------------------------------------------------------
    async def _direct(self, message) -> bool:
        """The fan-out's fast path (chat/realtime/layer.py): called by the layer's
        receiving task for each message to this socket. What is simply the next
        event of its room goes straight into the send buffer; anything else waits in
        the channel's queue for this consumer's own task, in order."""
        if self.send_buffer.closed:
            return True  # closing: nothing more goes out
        if not self.delivery.direct(message):
            return False
        self.send_text(message["text"])
        return True

    async def chat_event(self, message):
        await self._deliver(message)

    async def _deliver(self, message, *, may_hold: bool = True):
        verdict = self.delivery.event(message, may_hold=may_hold)
        if verdict is FILL:
            # The layer dropped or reordered something: fill the gap from the log.
            metrics.replayed("gap")
            await self._replay(message["room"], self.delivery.cursor(message["room"]), at_least=message["seq"] - 1)
            verdict = self.delivery.event(message, filled=True)
        if verdict is SEND:
            self.send_text(message["text"])

    async def chat_membership(self, message):
        room_id = message["room"]
        if message["action"] == "added":
            if self.delivery.joined(room_id, message["seq"]):
                await broadcast.join(self, wire.room_group(room_id))
                await self._deliver(message, may_hold=False)
                # Events committed before the group join were broadcast without
                # us: read them from the log; later ones arrive live.
                metrics.replayed("joined")
                await self._replay(room_id, self.delivery.cursor(room_id), at_least=message["seq"], alone=True)
            else:
                await self._deliver(message, may_hold=False)
        elif message["action"] == "removed":
            if self.delivery.follows(room_id):
                await self._deliver(message, may_hold=False)
                self.delivery.left(room_id)
                for key in [key for key in self.typing_timers if key[0] == room_id]:
                    self.typing_timers.pop(key).cancel()
                await broadcast.leave(self, wire.room_group(room_id))
            else:
                self.delivery.removal_handled(room_id)

    async def chat_ephemeral(self, message):
        self.send_text(message["text"])

    async def chat_disconnect(self, message):
        if "sessions" in message and self.session_id not in message["sessions"]:
            return
        if "keep_session" in message and self.session_id is not None and self.session_id == message["keep_session"]:
            return
        self.send_frame({"type": wire.DISCONNECTED, "reason": message.get("reason", "")})
        self.send_buffer.put_close(message.get("code", wire.CLOSE_LOGGED_OUT))

    async def chat_profile(self, message):
        """My name or picture changed: what this socket sends as me from now on
        (messages, typing, presence) carries the new ones."""
        user = await database_sync_to_async(type(self.user).objects.filter(pk=self.user_id).first)()
        if user is not None:
            self.user = user

    _layer_handlers = {
        "chat.profile": chat_profile,
        "chat.event": chat_event,
        "chat.membership": chat_membership,
        "chat.ephemeral": chat_ephemeral,
        "chat.disconnect": chat_disconnect,
    }
    _frame_handlers = {
        "message.send": on_message_send,
        "message.edit": on_message_edit,
        "message.delete": on_message_delete,
        "reaction.add": on_reaction_add,
        "reaction.remove": on_reaction_remove,
        "typing": on_typing,
        "read": on_read,
        "thread.read": on_thread_read,
        "sync": on_sync,
        "presence": on_presence,
        "ping": on_ping,
    }
