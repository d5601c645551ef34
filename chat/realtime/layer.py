"""Channel layers built for fan-out: one Redis publish per group send, one
receipt per process, and local delivery without a task per socket.

Two backends, one class each, sharing the local half (:class:`_Hub`):

- :class:`RedisFanoutLayer` — several processes on one Redis (production);
- :class:`InMemoryFanoutLayer` — one process, no Redis (the embedded default
  and tests).

Why not channels_redis: its core layer pushes a group message into one Redis
list per member channel and every consumer pops its own copy, so a message to
a room of 200 costs hundreds of Redis round trips and task switches; its
pub/sub layer publishes once but hides a lost Redis connection (receives
never fail, groups are silently gone). See docs/performance.md.

How it works, per process and event loop (a "hub"):

- ``new_channel()`` names the channel after its hub: ``<prefix>.<hub id>!<random>``.
  Only such channels can receive, join groups or be sent to (see "Channels
  this layer did not create" below).
- ``group_add`` records the channel in a local set; with Redis the hub's one
  pub/sub connection subscribes to the group's Redis channel when the first
  local member joins, and ``group_add`` returns only once Redis confirmed the
  subscription (a message published after it returns reaches the channel).
  ``group_discard`` unsubscribes with the last local member. Subscribing and
  unsubscribing one group at the same time converges on local membership.
- ``group_send`` is one ``PUBLISH`` of the msgpack-encoded message. Every hub
  subscribed to the group receives it once and hands it to its local members,
  in the order Redis delivered: to a *direct handler* the consumer attached
  (extension ``"direct"``) — awaited right there, in the hub's receiving
  task, so a fan-out to 200 sockets is one loop, not 200 task wake-ups — or,
  when there is none or it declines, into the channel's queue for
  ``receive``.
- ``send(channel, message)`` delivers to a channel of this hub at once and
  publishes to the hub that owns any other channel (another process, or
  another event loop of this one).
- Losing Redis makes every pending and later ``receive`` on the hub's
  channels raise ``redis.exceptions.ConnectionError`` (the consumer closes its
  socket; the client reconnects and syncs from the room log) and forgets the
  hub's groups; ``new_channel`` and ``group_add`` raise until Redis is back.

Delivery is at most once, as with any channel layer: correctness comes from
the room ``seq`` and ``sync``, never from the layer.

Capacity: each channel's queue holds at most ``capacity`` messages
(``channel_capacity`` per channel-name pattern); past it a message is dropped
with a warning, never queued without bound and never raised to the sender
(who may be in another process). Bounding a slow *socket* is the consumer's
job: its direct handler only hands the frame to the socket's own bounded send
buffer (the consumer closes with 4008 when a client stops reading), so the
layer's direct path never waits on a socket write. A handler must not block;
one that raises, or is slow, is logged and never stops a fan-out.

Expiry: nothing is stored in Redis (pub/sub only: a message reaches the hubs
subscribed at the moment it is published, or nobody), so channels_redis's
``expiry`` and ``group_expiry`` have no meaning here; passing them is an error
rather than silently ignored. Local memberships last until ``group_discard``
or ``detach``.

Channels this layer did not create: a name without this layer's hub id
(``"test-channel"``, a channels_redis name) cannot be received from, sent to
or added to a group: ``NotImplementedError``. Nor can a channel of another
process or event loop be received from or added to a group from here (it
belongs to its hub); sending to it works.

``flush()`` forgets the calling event loop's hub (its channels and groups) and
closes its connections: Redis connections belong to one event loop.

Redis hosts take channels_redis's format (one host: an ``address`` URL, or
``master_name`` + ``sentinels`` for Sentinel), built with its ``create_pool``.
Pub/sub channels are not per database, so the prefix gets the database
number: deployments sharing a Redis server on different databases stay apart.
"""

import asyncio
import collections
import logging
import re
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import msgpack
from channels.layers import BaseChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError

from chatsite.core import metrics

from ..events import wire
from .disconnects import client_gone

logger = logging.getLogger(__name__)

__all__ = [
    "BLOCKING_GROUP_SEND",
    "DIRECT",
    "BlockingGroupSend",
    "DirectDelivery",
    "DirectHandler",
    "InMemoryFanoutLayer",
    "RedisFanoutLayer",
]

# --- declared extensions (Channels' ``layer.extensions``) --------------------------------
BLOCKING_GROUP_SEND = wire.LAYER_BLOCKING_GROUP_SEND
DIRECT = wire.LAYER_DIRECT

DirectHandler = Callable[[dict], Awaitable[bool]]


@runtime_checkable
class BlockingGroupSend(Protocol):
    """Extension ``"blocking_group_send"``."""

    def group_send_blocking(self, group: str, message: dict) -> None:
        """``group_send`` for synchronous code (services after commit), from any
        thread, without an event loop. Raises like ``group_send`` when the
        message cannot be handed on (Redis unreachable)."""


@runtime_checkable
class DirectDelivery(Protocol):
    """Extension ``"direct"``: deliver a channel's messages by calling a handler
    in the layer's receiving task instead of waking the consumer's own task."""

    def attach(self, channel: str, handler: DirectHandler) -> None:
        """From now on, every message for ``channel`` (a channel of this event
        loop from ``new_channel``) is first offered to ``await handler(message)``:
        ``True`` means delivered; ``False`` leaves it to the channel's queue,
        where ``receive`` finds it in order with the others left there.

        The handler runs in the layer's receiving task, once per member of a
        fan-out, so it must not block (hand the frame to a bounded buffer;
        return ``False`` for anything slow) and must treat ``message`` as
        read-only. One that raises is logged and the message dropped for that
        channel only. Attaching again replaces the handler."""

    def detach(self, channel: str) -> None:
        """Forget ``channel`` for good: its handler, its queue (messages still in
        it are dropped) and its local group memberships. Call it when the
        consumer ends; calling it twice, or for an unknown channel, is fine."""


_LOST = object()  # put in a channel's queue when its hub lost Redis


class _Mailbox:
    """A channel's queue: what ``asyncio.Queue`` does here (``put_nowait``,
    ``get``, ``qsize``; unbounded — the hub enforces the capacity) in a
    fraction of its memory. Every socket has one for its whole life and it is
    empty nearly always: two slots and the one receive's future, where an
    ``asyncio.Queue`` holds three deques and an Event (about 6 KiB, measured
    with tracemalloc)."""

    __slots__ = ("_items", "_waiters")

    def __init__(self):
        self._items: collections.deque | None = None
        self._waiters: list[asyncio.Future] = []

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item) -> None:
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        self._wake_next()

    def _wake_next(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    async def get(self):
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                if self._items and not waiter.cancelled():
                    self._wake_next()  # woken, then cancelled: the item goes to the next receive
                raise
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item
SUBSCRIBE_TIMEOUT = 5.0  # seconds for Redis to confirm a SUBSCRIBE
SLOW_HANDLER = 0.05  # seconds: a direct handler taking longer than this is logged
_OWN_CHANNEL = re.compile(r"(?:^|\.)(?P<hub>[0-9a-f]{16})![0-9a-f]{32}$")

_UNSUPPORTED_OPTIONS = {
    "expiry": "nothing is stored in Redis (pub/sub), so messages cannot wait there to expire",
    "group_expiry": "group memberships are local to each process and last until group_discard or detach",
    "symmetric_encryption_keys": "messages are not encrypted by this layer",
}


def _retrieve(future: asyncio.Future) -> None:
    """Done callback: nobody may be left waiting for a failed confirmation;
    don't let asyncio log its exception as never retrieved."""
    if not future.cancelled():
        future.exception()


# Room events (``chat.event``, with the room's ``seq``) reach a process in the
# order Redis got them, and concurrent senders' commits publish from different
# threads and processes: two events of one room can arrive swapped by a moment.
# Each local socket would then take the later one for a gap and read the log.
# The hub holds an event that arrives past a gap for up to ``reorder_window``
# seconds (0 turns it off) and hands it on as soon as the missing ones came.
ORDERED_TYPE = "chat.event"
REORDER_WINDOW = 0.05
MAX_REORDER_HELD = 1000


class _Order:
    """One group's ordered events: the last seq handed on and what waits past a gap."""

    __slots__ = ("last", "held", "timer")

    def __init__(self, last: int):
        self.last = last
        self.held: dict[int, dict] = {}
        self.timer: asyncio.TimerHandle | None = None


class _Hub:
    """A layer's state on one event loop: local channels, handlers and groups."""

    def __init__(self, layer: "_FanoutLayer", loop: asyncio.AbstractEventLoop):
        self.layer = layer
        self.loop = loop
        self.id = uuid.uuid4().hex[:16]
        self.queues: dict[str, _Mailbox] = {}
        self.handlers: dict[str, DirectHandler] = {}
        self.groups: dict[str, set[str]] = {}  # group -> local channel names
        self.memberships: dict[str, set[str]] = {}  # local channel name -> groups
        self.lost: set[str] = set()  # channels that were here when Redis was lost (until detached)
        self.order: dict[str, _Order] = {}  # group -> its ordered events (room groups)
        self.gaps = 0  # reorder windows that ended with the gap still open

    # --- backend hooks -------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Messages for this hub's channels can arrive now (in memory: always)."""
        return True

    async def ready(self) -> None:
        """Make sure messages for this hub's channels can arrive (``new_channel``)."""

    async def sync_group(self, group: str) -> None:
        """Make the hub's subscription to ``group`` match its local members; return
        once messages published from now on reach them."""

    def schedule_sync(self, group: str) -> None:
        """``sync_group`` from synchronous code (``detach``)."""

    async def close(self) -> None:
        """Release what the hub holds (``flush``)."""

    # --- local state ---------------------------------------------------------------
    def new_channel(self, prefix: str) -> str:
        channel = f"{prefix}.{self.id}!{uuid.uuid4().hex}"
        self.queues[channel] = _Mailbox()
        return channel

    def join(self, group: str, channel: str) -> bool:
        """Add a local member; True if it was not one already."""
        members = self.groups.setdefault(group, set())
        if channel in members:
            return False
        members.add(channel)
        self.memberships.setdefault(channel, set()).add(group)
        return True

    def leave(self, group: str, channel: str) -> bool:
        """Remove a local member; True if it was one."""
        members = self.groups.get(group)
        if not members or channel not in members:
            return False
        members.discard(channel)
        if not members:
            del self.groups[group]
            self._forget_order(group)
        groups = self.memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self.memberships[channel]
        return True

    def detach(self, channel: str) -> None:
        self.handlers.pop(channel, None)
        self.queues.pop(channel, None)
        self.lost.discard(channel)
        for group in self.memberships.pop(channel, ()):
            members = self.groups.get(group)
            if members is not None:
                members.discard(channel)
                if not members:
                    del self.groups[group]
                    self._forget_order(group)
                    self.schedule_sync(group)

    def lose(self) -> None:
        """Redis is gone: fail every pending and later receive on the hub's
        channels (they stay dead) and forget the groups."""
        for queue in self.queues.values():
            queue.put_nowait(_LOST)
        self.lost.update(self.queues)
        self.queues.clear()
        self.handlers.clear()
        self.groups.clear()
        self.memberships.clear()
        for group in list(self.order):
            self._forget_order(group)

    # --- delivery ------------------------------------------------------------------
    async def dispatch(self, group: str, message: dict) -> None:
        """Hand a group message to every local member, one after the other; a
        room event in ``seq`` order (see :class:`_Order`)."""
        seq = message.get("seq") if message.get("type") == ORDERED_TYPE else None
        if seq is None or not self.layer.reorder_window or not isinstance(seq, int):
            await self._fan_out(group, message)
            return
        order = self.order.get(group)
        if order is None:
            if group not in self.groups:
                return  # nobody here (any more): nothing to deliver, no order to keep
            self.order[group] = _Order(seq)
            await self._fan_out(group, message)
            return
        if seq > order.last + 1:
            # Past a gap: the missing events are most likely a moment behind
            # (published by other threads or processes just after it).
            order.held[seq] = message
            if len(order.held) >= MAX_REORDER_HELD:
                await self._release(group)
            elif order.timer is None:
                order.timer = self.loop.call_later(self.layer.reorder_window, self._window_over, group)
            return
        await self._fan_out(group, message)
        if seq == order.last + 1:
            order.last = seq
            while order.last + 1 in order.held:
                order.last += 1
                await self._fan_out(group, order.held.pop(order.last))
            if not order.held and order.timer is not None:
                order.timer.cancel()
                order.timer = None

    def _window_over(self, group: str) -> None:
        order = self.order.get(group)
        if order is not None:
            order.timer = None
            task = self.loop.create_task(self._release(group))
            task.add_done_callback(_retrieve)

    async def _release(self, group: str) -> None:
        """The gap did not close in time: hand on what was held, in order (each
        socket then reads what is missing from the room's log, once per process:
        chat/realtime/replays.py)."""
        order = self.order.get(group)
        if order is None:
            return
        if order.timer is not None:
            order.timer.cancel()
            order.timer = None
        held, order.held = order.held, {}
        self.gaps += 1
        for seq in sorted(held):
            order.last = max(order.last, seq)
            await self._fan_out(group, held[seq])

    def _forget_order(self, group: str) -> None:
        order = self.order.pop(group, None)
        if order is not None and order.timer is not None:
            order.timer.cancel()

    async def _fan_out(self, group: str, message: dict) -> None:
        members = tuple(self.groups.get(group, ()))
        for channel in members:
            await self.deliver(channel, message)
        metrics.fanned_out(message, len(members))  # one inc (and one latency) per event, not per socket

    async def deliver(self, channel: str, message: dict) -> None:
        handler = self.handlers.get(channel)
        if handler is not None:
            started = self.loop.time()
            try:
                taken = await handler(dict(message))
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this task itself is being cancelled
                logger.error("direct handler of %s was cancelled; dropped a %s message", channel, message.get("type"))
                return
            except Exception as error:  # noqa: BLE001 - one socket's failure must not stop the fan-out
                if client_gone(error):
                    # An ordinary disconnect while the frame was written: the socket's own cleanup follows.
                    logger.debug("client of %s went away during a delivery", channel)
                else:
                    logger.exception("direct handler of %s failed; dropped a %s message", channel, message.get("type"))
                    metrics.layer_dropped("handler_failed")
                return
            finally:
                took = self.loop.time() - started
                if took > SLOW_HANDLER:
                    logger.warning("direct handler of %s took %.0f ms: it must not block the fan-out", channel, took * 1000)
            if taken:
                return
        queue = self.queues.get(channel)
        if queue is None:
            return  # detached: the consumer has ended
        if queue.qsize() >= self.layer.get_capacity(channel):
            metrics.layer_dropped("queue_full")
            logger.warning(
                "channel %s is full; dropped a %s message (the client resyncs from the room log)",
                channel,
                message.get("type"),
            )
            return
        queue.put_nowait(dict(message))


class _FanoutLayer(BaseChannelLayer):
    """The channel layer API over per-event-loop hubs; backends subclass it."""

    extensions = ["groups", "flush", BLOCKING_GROUP_SEND, DIRECT]
    hub_class = _Hub

    def __init__(
        self, *, prefix: str = "asgi", capacity: int = 1000, channel_capacity=None,
        reorder_window: float = REORDER_WINDOW, **unsupported,
    ):
        if unsupported:
            reasons = "; ".join(
                f"{name}: {_UNSUPPORTED_OPTIONS.get(name, 'unknown option')}" for name in sorted(unsupported)
            )
            raise TypeError(f"{type(self).__name__} does not take {', '.join(sorted(unsupported))} ({reasons})")
        super().__init__(capacity=capacity, channel_capacity=channel_capacity)
        self.expiry = None  # nothing expires: see the module docstring
        self.channel_capacity = self.compile_capacities(channel_capacity or {})
        self.reorder_window = float(reorder_window)
        self.prefix = prefix
        self._hubs: dict[asyncio.AbstractEventLoop, _Hub] = {}
        self._hubs_by_id: dict[str, _Hub] = {}

    # --- hubs -------------------------------------------------------------------------
    def _hub(self) -> _Hub:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            for old in [old for old in list(self._hubs) if old.is_closed()]:
                self._forget(self._hubs[old])
            hub = self.hub_class(self, loop)
            self._hubs[loop] = hub
            self._hubs_by_id[hub.id] = hub
        return hub

    def _forget(self, hub: _Hub) -> None:
        if self._hubs.get(hub.loop) is hub:
            del self._hubs[hub.loop]
        self._hubs_by_id.pop(hub.id, None)

    def _owner(self, channel: str, action: str) -> str:
        """The id of the hub that created ``channel``, or NotImplementedError."""
        found = _OWN_CHANNEL.search(channel)
        if found is None:
            raise NotImplementedError(
                f"{type(self).__name__} cannot {action} channel {channel!r}: only channels made by its "
                "new_channel() exist in this layer (it has no named channels shared between consumers; "
                "use a group)"
            )
        return found["hub"]

    def _require_local(self, hub: _Hub, channel: str, action: str) -> None:
        if self._owner(channel, action) != hub.id:
            raise NotImplementedError(
                f"{type(self).__name__} cannot {action} channel {channel!r} here: it belongs to another "
                "process or event loop (only send() reaches it from here)"
            )

    # --- channel layer API ------------------------------------------------------------
    async def new_channel(self, prefix: str = "specific") -> str:
        hub = self._hub()
        await hub.ready()
        return hub.new_channel(prefix)

    async def receive(self, channel: str) -> dict:
        self.require_valid_channel_name(channel)
        hub = self._hub()
        self._require_local(hub, channel, "receive from")
        if channel in hub.lost:
            raise RedisConnectionError("the channel layer lost its Redis connection")
        queue = hub.queues.get(channel)
        if queue is None:
            queue = hub.queues[channel] = _Mailbox()
        message = await queue.get()
        if message is _LOST:
            queue.put_nowait(_LOST)  # another receive waiting on the same queue fails too
            raise RedisConnectionError("the channel layer lost its Redis connection")
        return message

    async def send(self, channel: str, message: dict) -> None:
        """Deliver to a channel from ``new_channel`` of this layer, wherever its
        hub is. Never raises ChannelFull: a full channel drops the message."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        owner = self._owner(channel, "send to")
        hub = self._hub()
        if owner == hub.id:
            await hub.deliver(channel, message)
        else:
            await self._send_elsewhere(hub, owner, channel, message)

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        hub = self._hub()
        self._require_local(hub, channel, "add to a group")
        added = hub.join(group, channel)
        try:
            await hub.sync_group(group)
        except BaseException:
            if added and hub.leave(group, channel) and group not in hub.groups:
                hub.schedule_sync(group)
            raise

    async def group_discard(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        hub = self._hub()
        if hub.leave(group, channel) and group not in hub.groups:
            await hub.sync_group(group)

    async def group_send(self, group: str, message: dict) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        await self._group_send(self._hub(), group, message)

    async def subscriber_ready(self, *, timeout: float) -> bool:
        """Whether this event loop's hub can receive fan-out right now (the
        readiness check, chatsite/health.py): its subscription connection is
        up, opened on demand when no socket has needed it yet (as the first
        socket's ``new_channel`` would), waiting at most ``timeout`` seconds.
        Never raises for an unreachable Redis: False."""
        hub = self._hub()
        if hub.connected:
            return True
        try:
            await asyncio.wait_for(hub.ready(), timeout)
        except (TimeoutError, RedisConnectionError, OSError) as exc:
            logger.info("channel layer subscriber not connected: %s", type(exc).__name__)
            return False
        except Exception:  # noqa: BLE001 - any other Redis error: not ready, never a 500
            logger.info("channel layer subscriber not connected", exc_info=True)
            return False
        return hub.connected

    async def flush(self) -> None:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is not None:
            self._forget(hub)
            await hub.close()

    # --- extensions -------------------------------------------------------------------
    def attach(self, channel: str, handler: DirectHandler) -> None:
        """See :class:`DirectDelivery`. Call it on the channel's event loop."""
        self.require_valid_channel_name(channel)
        hub = self._hub()
        self._require_local(hub, channel, "attach a handler to")
        if not callable(handler):
            raise TypeError("attach() needs an async handler(message) -> bool; use detach() to forget a channel")
        if channel in hub.lost:
            raise RedisConnectionError("the channel layer lost its Redis connection")
        hub.handlers[channel] = handler
        hub.queues.setdefault(channel, _Mailbox())

    def detach(self, channel: str) -> None:
        """See :class:`DirectDelivery`. From any thread (it runs on the channel's loop)."""
        found = _OWN_CHANNEL.search(channel) if isinstance(channel, str) else None
        hub = self._hubs_by_id.get(found["hub"]) if found else None
        if hub is None:
            return  # not ours, or its hub is gone already
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if hub.loop is running:
            hub.detach(channel)
        elif not hub.loop.is_closed():
            hub.loop.call_soon_threadsafe(hub.detach, channel)

    def group_send_blocking(self, group: str, message: dict) -> None:
        raise NotImplementedError

    # --- backend hooks ----------------------------------------------------------------
    async def _group_send(self, hub: _Hub, group: str, message: dict) -> None:
        raise NotImplementedError

    async def _send_elsewhere(self, hub: _Hub, owner: str, channel: str, message: dict) -> None:
        raise NotImplementedError


# --- in memory: one process ------------------------------------------------------------
class _MemoryHub(_Hub):
    """A hub fed by ``post`` from any thread, delivering in its own task, in order."""

    def __init__(self, layer, loop):
        super().__init__(layer, loop)
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.pump = loop.create_task(self._pump())
        # It lives as long as its loop: no "destroyed but pending" when that loop is dropped.
        self.pump._log_destroy_pending = False

    def post(self, group: str | None, channel: str | None, message: dict) -> None:
        """Thread-safe: queue a group message (``group``) or a channel message."""
        try:
            self.loop.call_soon_threadsafe(self.inbox.put_nowait, (group, channel, message))
        except RuntimeError:  # its loop is closed: nobody left to deliver to
            pass

    async def _pump(self):
        while True:
            group, channel, message = await self.inbox.get()
            try:
                if group is not None:
                    await self.dispatch(group, message)
                else:
                    await self.deliver(channel, message)
            except Exception:  # noqa: BLE001 - never stop delivering
                logger.exception("in-memory channel layer: delivery failed")

    async def close(self):
        self.pump.cancel()


class InMemoryFanoutLayer(_FanoutLayer):
    """The fan-out layer for one process, without Redis (the embedded default, tests).

    Same API and extensions as :class:`RedisFanoutLayer`; several event loops
    (threads) of the process share groups. A group send reaches members on
    the sender's own loop before ``group_send`` returns, and members on other
    loops through their hub's task, in order.
    """

    hub_class = _MemoryHub

    def __init__(self, *, prefix: str = "asgi", capacity: int = 1000, channel_capacity=None, **options):
        super().__init__(prefix=prefix, capacity=capacity, channel_capacity=channel_capacity, **options)

    def _hubs_in(self, group: str) -> list[_MemoryHub]:
        return [hub for hub in list(self._hubs.values()) if group in hub.groups and not hub.loop.is_closed()]

    async def _group_send(self, hub, group, message):
        for member in self._hubs_in(group):
            if member is hub:
                await hub.dispatch(group, message)
            else:
                member.post(group, None, dict(message))

    async def _send_elsewhere(self, hub, owner, channel, message):
        target = self._hubs_by_id.get(owner)
        if target is not None:  # else its loop has gone, and the channel with it
            target.post(None, channel, dict(message))

    def group_send_blocking(self, group: str, message: dict) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        for member in self._hubs_in(group):
            member.post(group, None, dict(message))


# --- Redis: several processes ------------------------------------------------------------
class _RedisHub(_Hub):
    """A hub with one pub/sub connection (its own channel + its groups) and a
    receiving task that delivers what arrives."""

    def __init__(self, layer: "RedisFanoutLayer", loop):
        super().__init__(layer, loop)
        self.hub_key = layer.hub_channel(self.id).encode()
        self.group_key = layer.group_channel("").encode()
        self.client = None  # publishes
        self.sub_client = None
        self.pubsub = None
        self.receiver: asyncio.Task | None = None
        # group -> confirmation of its latest SUBSCRIBE (present while subscribed)
        self.subscribed: dict[str, asyncio.Future] = {}
        # Redis channel -> futures of SUBSCRIBEs sent, in order (Redis replies in order)
        self.confirm: dict[str, collections.deque] = {}
        self.lock = asyncio.Lock()  # orders SUBSCRIBE / UNSUBSCRIBE on the connection

    @property
    def connected(self) -> bool:
        """The subscription connection is open and its receiving task running:
        it is dropped (None) as soon as the task sees the connection fail."""
        return self.pubsub is not None and self.receiver is not None and not self.receiver.done()

    def publisher(self):
        if self.client is None:
            from channels_redis.utils import create_pool
            from redis.asyncio import Redis

            self.client = Redis(connection_pool=create_pool(self.layer.host))
        return self.client

    def _expect(self, redis_channel: str) -> asyncio.Future:
        future = self.loop.create_future()
        future.add_done_callback(_retrieve)
        self.confirm.setdefault(redis_channel, collections.deque()).append(future)
        return future

    async def _connect(self):
        """The subscription connection, with this hub's own channel subscribed.
        Hold ``self.lock``."""
        if self.pubsub is not None:
            return self.pubsub
        from channels_redis.utils import create_pool
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No silent reconnect for the subscription: what is published while it
        # is down is lost, so its sockets must learn of it and resync.
        host = {**self.layer.host, "retry": Retry(NoBackoff(), 0)}
        host.pop("retry_on_timeout", None)
        host["health_check_interval"] = 0
        self.sub_client = Redis(connection_pool=create_pool(host))
        pubsub = self.pubsub = self.sub_client.pubsub()
        try:
            hub_channel = self.layer.hub_channel(self.id)
            confirmed = self._expect(hub_channel)
            await pubsub.subscribe(hub_channel)
            self.receiver = self.loop.create_task(self._receive_forever(pubsub))
            # It lives as long as its loop: no "destroyed but pending" when that loop is dropped.
            self.receiver._log_destroy_pending = False
            await asyncio.wait_for(confirmed, SUBSCRIBE_TIMEOUT)
        except BaseException:
            await self._lose()  # Redis is not there: start afresh on the next call
            raise
        return pubsub

    async def ready(self):
        if self.pubsub is None:
            async with self.lock:
                await self._connect()

    async def sync_group(self, group):
        redis_channel = self.layer.group_channel(group)
        if bool(self.groups.get(group)) != (group in self.subscribed):
            async with self.lock:
                # Decide on the local membership as it is now, not as it was when
                # this call began: concurrent adds and discards of one group then
                # leave Redis subscribed exactly when the group has local members.
                want, have = bool(self.groups.get(group)), group in self.subscribed
                try:
                    if want and not have:
                        pubsub = await self._connect()
                        self.subscribed[group] = self._expect(redis_channel)
                        await pubsub.subscribe(redis_channel)
                    elif have and not want:
                        del self.subscribed[group]
                        if self.pubsub is not None:
                            await self.pubsub.unsubscribe(redis_channel)
                except (RedisConnectionError, OSError):
                    await self._lose()
                    raise
        confirmed = self.subscribed.get(group)
        if confirmed is not None and group in self.groups:
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_TIMEOUT)

    def schedule_sync(self, group):
        task = self.loop.create_task(self.sync_group(group))
        task.add_done_callback(_retrieve)

    async def _receive_forever(self, pubsub):
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind = message["type"]
                if kind == "message":
                    await self._on_message(message["channel"], message["data"])
                elif kind == "subscribe":
                    waiting = self.confirm.get(message["channel"].decode())
                    if waiting:
                        future = waiting.popleft()
                        if not future.done():
                            future.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Redis is gone: fail every local receive
            if self.pubsub is pubsub:
                logger.warning("channel layer lost Redis (%s): closing this process's sockets", exc)
                metrics.redis_error("layer")
                await self._lose()

    async def _on_message(self, redis_channel: bytes, data: bytes) -> None:
        try:
            if redis_channel == self.hub_key:
                channel, message = msgpack.unpackb(data, raw=False)
                await self.deliver(channel, message)
            elif redis_channel.startswith(self.group_key):
                group = redis_channel[len(self.group_key):].decode()
                await self.dispatch(group, msgpack.unpackb(data, raw=False))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bad message must not stop the receiving task
            logger.exception("channel layer could not deliver a message from %r", redis_channel)

    async def _lose(self):
        self.lose()
        error = RedisConnectionError("the channel layer lost its Redis connection")
        for future in self.subscribed.values():
            if not future.done():
                future.set_exception(error)
        self.subscribed.clear()
        for futures in self.confirm.values():
            for future in futures:
                if not future.done():
                    future.set_exception(error)
        self.confirm.clear()
        receiver, pubsub, client = self.receiver, self.pubsub, self.sub_client
        self.receiver = self.pubsub = self.sub_client = None
        if receiver is not None and receiver is not asyncio.current_task():
            receiver.cancel()
        for closable in (pubsub, client):
            if closable is not None:
                try:
                    await closable.aclose()
                except Exception as exc:  # noqa: BLE001 - already broken
                    logger.debug("closing a lost Redis connection: %s", exc)

    async def close(self):
        if self.receiver is not None:
            self.receiver.cancel()
        for closable in (self.pubsub, self.sub_client, self.client):
            if closable is not None:
                try:
                    await closable.aclose()
                except Exception as exc:  # noqa: BLE001 - closing what may be broken
                    logger.debug("closing a Redis connection: %s", exc)
        self.receiver = self.pubsub = self.sub_client = self.client = None


def _blocking_redis(host: dict):
    """A synchronous client for the same host settings channels_redis's create_pool takes."""
    import redis

    host = dict(host)
    if "address" in host:
        return redis.Redis.from_url(host.pop("address"), **host)
    master_name = host.pop("master_name", None)
    if master_name is not None:
        from redis.sentinel import Sentinel

        sentinel = Sentinel(host.pop("sentinels"), sentinel_kwargs=host.pop("sentinel_kwargs", None))
        return sentinel.master_for(master_name, **host)
    return redis.Redis(**host)


class RedisFanoutLayer(_FanoutLayer):
    """The fan-out layer for several processes on one Redis (or a Sentinel-managed one).

    ``hosts`` is a list of exactly one host in channels_redis's format: a
    ``redis://`` / ``rediss://`` URL string, ``{"address": url, **pool_kwargs}``,
    or ``{"master_name": ..., "sentinels": [(host, port)], **pool_kwargs}``.
    """

    hub_class = _RedisHub

    def __init__(self, hosts, *, prefix: str = "asgi", capacity: int = 1000, channel_capacity=None, **options):
        super().__init__(prefix=prefix, capacity=capacity, channel_capacity=channel_capacity, **options)
        hosts = list(hosts or ())
        if len(hosts) != 1:
            raise ValueError(
                f"RedisFanoutLayer takes exactly one Redis host (got {len(hosts)}): use Sentinel for "
                "failover, and InMemoryFanoutLayer for one process without Redis"
            )
        host = hosts[0]
        self.host = {"address": host} if isinstance(host, str) else dict(host)
        # Pub/sub channels are not per database: keep deployments that share a
        # Redis server on different databases apart.
        self.prefix = f"{prefix}.db{self._database(self.host)}"
        self._blocking_client = None
        self._blocking_lock = threading.Lock()

    @staticmethod
    def _database(host: dict) -> int:
        if "address" in host:
            from urllib.parse import urlsplit

            path = urlsplit(host["address"]).path.strip("/")
            return int(path) if path.isdigit() else int(host.get("db", 0))
        return int(host.get("db", 0))

    # --- naming ---------------------------------------------------------------------
    def group_channel(self, group: str) -> str:
        return f"{self.prefix}:g:{group}"

    def hub_channel(self, hub_id: str) -> str:
        return f"{self.prefix}:h:{hub_id}"

    # --- transport --------------------------------------------------------------------
    async def _group_send(self, hub, group, message):
        await hub.publisher().publish(self.group_channel(group), msgpack.packb(message, use_bin_type=True))

    async def _send_elsewhere(self, hub, owner, channel, message):
        payload = msgpack.packb([channel, message], use_bin_type=True)
        await hub.publisher().publish(self.hub_channel(owner), payload)

    def group_send_blocking(self, group: str, message: dict) -> None:
        """One blocking ``PUBLISH`` on a thread-safe connection pool."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        if self._blocking_client is None:
            with self._blocking_lock:
                if self._blocking_client is None:
                    self._blocking_client = _blocking_redis(self.host)
        self._blocking_client.publish(self.group_channel(group), msgpack.packb(message, use_bin_type=True))
