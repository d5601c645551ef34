"""A channel layer built for fan-out: one Redis publish per group send, one
receipt per process, and local delivery without a task per socket.

Why not channels_redis: its core layer pushes a group message into one Redis
list per member channel and every consumer pops its own copy, so a message to
a room of 200 costs hundreds of Redis round trips and task switches; its
pub/sub layer publishes once but hides a lost Redis connection (receives
never fail, groups are silently gone). See docs/performance.md.

How this one works, per process and event loop (a "hub"):

- ``group_add`` records the channel in a local set and subscribes the hub's
  one pub/sub connection to the group's Redis channel (first local member
  only); ``group_discard`` unsubscribes with the last one.
- ``group_send`` is one ``PUBLISH`` of the msgpack-encoded message. Every hub
  subscribed to the group receives it once and hands it to its local members:
  to a *direct handler* the consumer registered (``set_direct``) — called
  right there, in the hub's receiving task, so a fan-out to 200 sockets is one
  loop, not 200 task wake-ups — or, when there is none or it declines, into
  the channel's queue for ``receive``.
- ``send`` to a specific channel publishes to the hub that owns it.
- Losing Redis fails every local ``receive`` with ``ConnectionError`` (the
  consumer closes its socket; the client reconnects and syncs from the room
  log) and forgets the hub's groups. Delivery is at most once, as with any
  channel layer: correctness comes from the room ``seq`` and ``sync``.

Without ``hosts`` the same hub logic runs in memory, for one process.
"""

import asyncio
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable

import msgpack
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

DirectHandler = Callable[[dict], Awaitable[bool]]

_LOST = object()  # put in a channel's queue when the hub lost Redis
SUBSCRIBE_TIMEOUT = 5.0


class _Hub:
    """The layer's state on one event loop: local channels, groups and the subscription."""

    def __init__(self, layer: "FanoutChannelLayer", loop: asyncio.AbstractEventLoop):
        self.layer = layer
        self.loop = loop
        self.id = uuid.uuid4().hex[:16]
        self.channels: dict[str, asyncio.Queue] = {}
        self.direct: dict[str, DirectHandler] = {}
        self.groups: dict[str, set[str]] = {}  # group -> local channel names
        self.client = None  # publishes and commands
        self.pubsub = None
        self.receiver: asyncio.Task | None = None
        self.ready: dict[str, asyncio.Future] = {}  # group -> its subscription, once confirmed
        self.confirm: dict[str, list[asyncio.Future]] = {}  # Redis channel -> waiting for SUBSCRIBE
        self.lock = asyncio.Lock()

    # --- Redis ------------------------------------------------------------------
    async def _subscriber(self):
        if self.layer.host is None:
            return None
        if self.pubsub is None:
            from channels_redis.utils import create_pool
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # No silent reconnect for the subscription: what is published while
            # it is down is lost, so its sockets must learn of it and resync.
            host = {**self.layer.host, "retry": Retry(NoBackoff(), 0)}
            host.pop("retry_on_timeout", None)
            host["health_check_interval"] = 0
            self.sub_client = Redis(connection_pool=create_pool(host))
            self.pubsub = self.sub_client.pubsub()
            try:
                confirmed = self._expect(self.layer.hub_channel(self.id))
                await self.pubsub.subscribe(self.layer.hub_channel(self.id))
                self.receiver = self.loop.create_task(self._receive_forever(self.pubsub))
                # It lives as long as its loop: no "destroyed but pending" when that loop is dropped.
                self.receiver._log_destroy_pending = False
                await asyncio.wait_for(confirmed, SUBSCRIBE_TIMEOUT)
            except BaseException:
                # Redis is not there: start afresh on the next call.
                if self.receiver is not None:
                    self.receiver.cancel()
                await self._lose()
                raise
        return self.pubsub

    def _expect(self, redis_channel: str) -> asyncio.Future:
        future = self.loop.create_future()
        self.confirm.setdefault(redis_channel, []).append(future)
        return future

    def publisher(self):
        if self.client is None:
            from channels_redis.utils import create_pool
            from redis.asyncio import Redis

            self.client = Redis(connection_pool=create_pool(self.layer.host))
        return self.client

    async def subscribe(self, redis_channel: str) -> None:
        """Subscribe, and return once Redis confirmed it: from then on every
        publish to the channel reaches this hub."""
        async with self.lock:
            pubsub = await self._subscriber()
            if pubsub is None:
                return
            confirmed = self._expect(redis_channel)
            await pubsub.subscribe(redis_channel)
        await asyncio.wait_for(confirmed, SUBSCRIBE_TIMEOUT)

    async def unsubscribe(self, redis_channel: str) -> None:
        async with self.lock:
            if self.pubsub is not None:
                await self.pubsub.unsubscribe(redis_channel)

    async def _receive_forever(self, pubsub):
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind = message["type"]
                if kind == "message":
                    await self.dispatch(message["channel"].decode(), msgpack.unpackb(message["data"], raw=False))
                elif kind == "subscribe":
                    for future in self.confirm.pop(message["channel"].decode(), ()):
                        if not future.done():
                            future.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Redis is gone: fail every local receive
            logger.warning("channel layer lost Redis (%s): closing this process's sockets", exc)
            await self._lose()

    async def _lose(self):
        for queue in self.channels.values():
            queue.put_nowait(_LOST)
        self.groups.clear()
        self.ready.clear()
        for futures in self.confirm.values():
            for future in futures:
                if not future.done():
                    future.set_exception(RedisConnectionError("lost Redis while subscribing"))
        self.confirm.clear()
        pubsub, client, self.pubsub, self.receiver = self.pubsub, getattr(self, "sub_client", None), None, None
        for closable in (pubsub, client):
            if closable is not None:
                try:
                    await closable.aclose()
                except Exception:  # noqa: BLE001 - already broken
                    pass

    # --- local delivery -----------------------------------------------------------
    async def dispatch(self, redis_channel: str, message: dict) -> None:
        group = self.layer.group_of(redis_channel)
        if group is None:  # a message for one of this hub's channels
            channel = message.pop("__channel__", None)
            if channel is not None:
                await self.deliver(channel, message)
            return
        for channel in tuple(self.groups.get(group, ())):
            await self.deliver(channel, message)

    async def deliver(self, channel: str, message: dict) -> None:
        handler = self.direct.get(channel)
        if handler is not None:
            try:
                if await handler(message):
                    return
            except Exception:  # noqa: BLE001 - one socket's failure must not stop the fan-out
                logger.exception("direct delivery to %s failed", channel)
                return
        queue = self.channels.get(channel)
        if queue is None:
            return
        if queue.qsize() >= self.layer.get_capacity(channel):
            logger.warning("channel %s is full; dropped a %s message (the client resyncs from the room log)", channel, message.get("type"))
            return
        queue.put_nowait(dict(message))


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


class FanoutChannelLayer(BaseChannelLayer):
    extensions = ["groups", "flush"]

    def __init__(self, hosts=None, prefix="asgi", capacity=1000, expiry=60, channel_capacity=None, **kwargs):
        super().__init__(expiry=expiry, capacity=capacity, channel_capacity=channel_capacity)
        self.channel_capacity = self.compile_capacities(channel_capacity or {})
        self.host = dict(hosts[0]) if hosts else None
        if self.host is not None and "address" not in self.host and "master_name" not in self.host and len(hosts) > 1:
            raise ValueError("FanoutChannelLayer takes one Redis host (use Sentinel for failover)")
        # Pub/sub channels are not per database: keep deployments that share a
        # Redis server on different databases apart.
        self.prefix = f"{prefix}.db{self._database(self.host)}" if self.host else prefix
        self._blocking_client = None
        self._hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub]" = weakref.WeakKeyDictionary()

    @staticmethod
    def _database(host: dict) -> int:
        if "address" in host:
            from urllib.parse import urlsplit

            path = urlsplit(host["address"]).path.strip("/")
            return int(path) if path.isdigit() else int(host.get("db", 0))
        return int(host.get("db", 0))

    # --- naming -------------------------------------------------------------------
    def group_channel(self, group: str) -> str:
        return f"{self.prefix}:g:{group}"

    def hub_channel(self, hub_id: str) -> str:
        return f"{self.prefix}:h:{hub_id}"

    def group_of(self, redis_channel: str) -> str | None:
        marker = f"{self.prefix}:g:"
        return redis_channel[len(marker):] if redis_channel.startswith(marker) else None

    def _hub(self) -> _Hub:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            hub = self._hubs[loop] = _Hub(self, loop)
        return hub

    def _hub_of_channel(self, channel: str) -> str:
        return channel.split(".", 1)[1].split("!", 1)[0]

    # --- channel layer API ------------------------------------------------------------
    async def new_channel(self, prefix="specific"):
        hub = self._hub()
        async with hub.lock:
            await hub._subscriber()
        channel = f"{prefix}.{hub.id}!{uuid.uuid4().hex}"
        hub.channels[channel] = asyncio.Queue()
        return channel

    async def receive(self, channel):
        self.require_valid_channel_name(channel)
        hub = self._hub()
        queue = hub.channels.get(channel)
        if queue is None:
            queue = hub.channels[channel] = asyncio.Queue()
        message = await queue.get()
        if message is _LOST:
            hub.channels.pop(channel, None)
            hub.direct.pop(channel, None)
            raise RedisConnectionError("the channel layer lost its Redis connection")
        return message

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        hub = self._hub()
        if channel in hub.channels:
            await hub.deliver(channel, message)
            return
        if self.host is None:
            target = next((h for h in list(self._hubs.values()) if channel in h.channels), None)
            if target is not None:
                target.loop.call_soon_threadsafe(asyncio.ensure_future, target.deliver(channel, dict(message)))
            return
        payload = msgpack.packb({**message, "__channel__": channel}, use_bin_type=True)
        await hub.publisher().publish(self.hub_channel(self._hub_of_channel(channel)), payload)

    async def group_add(self, group, channel):
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        hub = self._hub()
        hub.groups.setdefault(group, set()).add(channel)
        ready = hub.ready.get(group)
        if ready is None:
            ready = hub.ready[group] = asyncio.ensure_future(hub.subscribe(self.group_channel(group)))
        try:
            await asyncio.shield(ready)
        except Exception:
            if hub.ready.get(group) is ready:
                del hub.ready[group]
            members = hub.groups.get(group, set())
            members.discard(channel)
            if not members:
                hub.groups.pop(group, None)
            raise

    async def group_discard(self, group, channel):
        self.require_valid_group_name(group)
        hub = self._hub()
        members = hub.groups.get(group)
        if not members or channel not in members:
            return
        members.discard(channel)
        if not members:
            del hub.groups[group]
            hub.ready.pop(group, None)
            await hub.unsubscribe(self.group_channel(group))

    async def group_send(self, group, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        if self.host is None:
            for hub in list(self._hubs.values()):
                if group not in hub.groups or hub.loop.is_closed():
                    continue
                if hub.loop is asyncio.get_running_loop():
                    await hub.dispatch(self.group_channel(group), message)
                else:
                    hub.loop.call_soon_threadsafe(
                        asyncio.ensure_future, hub.dispatch(self.group_channel(group), dict(message))
                    )
            return
        await self._hub().publisher().publish(self.group_channel(group), msgpack.packb(message, use_bin_type=True))

    async def flush(self):
        hub = self._hub()
        if hub.receiver is not None:
            hub.receiver.cancel()
        for closable in (hub.pubsub, getattr(hub, "sub_client", None), hub.client):
            if closable is not None:
                await closable.aclose()
        self._hubs.pop(hub.loop, None)

    # --- extensions -----------------------------------------------------------------
    def group_send_blocking(self, group: str, message: dict) -> None:
        """``group_send`` for synchronous code (services after commit), without an
        event loop: one blocking ``PUBLISH`` on a thread-safe connection pool."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        if self.host is None:
            for hub in list(self._hubs.values()):
                if group in hub.groups and not hub.loop.is_closed():
                    hub.loop.call_soon_threadsafe(
                        asyncio.ensure_future, hub.dispatch(self.group_channel(group), dict(message))
                    )
            return
        if self._blocking_client is None:
            self._blocking_client = _blocking_redis(self.host)
        self._blocking_client.publish(self.group_channel(group), msgpack.packb(message, use_bin_type=True))

    def discard_channel(self, channel: str) -> None:
        """Forget a local channel whose consumer has ended (its queue and handler)."""
        hub = self._hub()
        hub.channels.pop(channel, None)
        hub.direct.pop(channel, None)

    def set_direct(self, channel: str, handler: DirectHandler | None) -> None:
        """Deliver group and channel messages for ``channel`` by awaiting
        ``handler(message)`` in the receiving task; a handler returning False
        leaves the message to the channel's queue. It must not block: a slow
        path belongs on the consumer's own task (return False)."""
        hub = self._hub()
        if handler is None:
            hub.direct.pop(channel, None)
        else:
            hub.direct[channel] = handler
