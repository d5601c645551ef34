"""Who is connected, shared across processes.

With ``REDIS_URL`` each user has a Redis hash ``<prefix>:presence:<user>`` of
their sockets (channel name -> expiry time); every process refreshes the
sockets it holds on a timer, so a crashed process's sockets expire on their
own. Without Redis the same lives in this process's memory.

A user is online while at least one unexpired socket exists; ``away`` is a
status the client sets and is kept beside it.

A closed socket *lingers* for ``CHAT_PRESENCE_GRACE_SECONDS`` (10): its entry
stays, marked, until then. Someone who reloads a page, switches networks or is
cut off with everyone else by a load balancer's restart and is back within the
grace never went offline: the members of their rooms get neither ``offline``
nor ``online`` (presence flicker, and in a reconnect storm a million presence
frames: every returning person announced to every returning socket of their
rooms). Lingering sockets count for the status shown (REST, frames) but not
against the per-user cap, and not for @here or the notification worker, which
ask who is connected now.
"""

import asyncio
import logging
import time
import weakref

from django.conf import settings

from chatsite.core import metrics
from chatsite.core.exceptions import Unavailable

logger = logging.getLogger(__name__)

SOCKET_TTL = 60  # seconds a socket counts without a refresh
POOL_WAIT_SECONDS = 10  # how long a presence update waits for a free Redis connection
REFRESH_EVERY = 20
STATUSES = ("online", "away")


class _Memory:
    def __init__(self):
        self.sockets: dict[str, dict[str, float]] = {}
        self.status: dict[str, str] = {}

    async def add(self, user_id, channel, expiry, now: float | None = None) -> int:
        """Register an open socket; the user's other unexpired entries (open or lingering)."""
        now = time.time() if now is None else now
        sockets = self.sockets.setdefault(user_id, {})
        others = sum(1 for c, e in sockets.items() if c != channel and e > now)
        sockets[channel] = expiry
        return others

    async def remove(self, user_id, channel):
        self.sockets.get(user_id, {}).pop(channel, None)

    async def linger(self, user_id, channel, until):
        sockets = self.sockets.setdefault(user_id, {})
        sockets.pop(channel, None)
        sockets[LINGER + channel] = until

    async def live(self, user_id, now, *, lingering: bool = False, besides: str | None = None) -> int:
        sockets = self.sockets.get(user_id, {})
        for channel in [c for c, expiry in sockets.items() if expiry <= now]:
            sockets.pop(channel, None)
        return _count(sockets, lingering=lingering, besides=besides)

    async def refresh(self, entries, expiry):
        for user_id, channel in entries:
            sockets = self.sockets.setdefault(user_id, {})
            if LINGER + channel not in sockets:
                sockets[channel] = expiry

    async def set_status(self, user_id, status):
        self.status[user_id] = status

    async def get_status(self, user_id):
        return self.status.get(user_id, "online")

    def statuses_now(self, user_ids, now, *, lingering: bool = False) -> dict[str, str]:
        return {
            user_id: _status(self.sockets.get(user_id, {}), self.status.get(user_id), now, lingering=lingering)
            for user_id in user_ids
        }


class _Redis:
    def __init__(self, url: str, prefix: str, max_connections: int = 100):
        self.url = url
        self.prefix = prefix
        self.max_connections = max_connections
        self._clients: dict = {}
        self._scripts: dict = {}
        self._refresh_scripts: dict = {}
        self._sync_client = None

    def _client(self):
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff
            from redis.exceptions import ConnectionError, TimeoutError

            # Bounded like the layer's pool, and blocking: when many sockets close
            # at once (a load balancer restart), their cleanups wait their turn for
            # a connection instead of failing with MaxConnectionsError and leaving
            # stale sockets that count against the per-user cap.
            pool = redis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=self.max_connections,
                timeout=POOL_WAIT_SECONDS,
                socket_timeout=2,
                socket_connect_timeout=2,
                socket_keepalive=True,
                health_check_interval=30,
                retry=Retry(ExponentialBackoff(cap=1, base=0.05), 2),
                retry_on_error=[ConnectionError, TimeoutError],
            )
            client = redis.Redis(connection_pool=pool)
            self._clients = {lp: c for lp, c in self._clients.items() if not lp.is_closed()}
            self._clients[loop] = client
        return client

    def _key(self, user_id):
        return f"{self.prefix}:presence:{user_id}"

    async def add(self, user_id, channel, expiry, now: float | None = None) -> int:
        """Register an open socket; the user's other unexpired entries (open or lingering)."""
        now = time.time() if now is None else now
        client = self._client()
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(_ADD_SCRIPT)
        return int(await script(keys=[self._key(user_id)], args=[channel, expiry, now, _key_ttl()]))

    async def remove(self, user_id, channel):
        await self._client().hdel(self._key(user_id), channel)

    async def linger(self, user_id, channel, until):
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.hdel(self._key(user_id), channel)
            pipe.hset(self._key(user_id), LINGER + channel, until)
            pipe.expire(self._key(user_id), _key_ttl())
            await pipe.execute()

    async def live(self, user_id, now, *, lingering: bool = False, besides: str | None = None) -> int:
        sockets = await self._client().hgetall(self._key(user_id))
        stale = [c for c, expiry in sockets.items() if float(expiry) <= now]
        if stale:
            await self._client().hdel(self._key(user_id), *stale)
            for channel in stale:
                del sockets[channel]
        return _count({c.decode(): e for c, e in sockets.items()}, lingering=lingering, besides=besides)

    async def refresh(self, entries, expiry):
        client = self._client()
        script = self._refresh_scripts.get(id(client))
        if script is None:
            script = self._refresh_scripts[id(client)] = client.register_script(_REFRESH_SCRIPT)
        channels: dict[str, list[str]] = {}
        for user_id, channel in entries:
            channels.setdefault(user_id, []).append(channel)
        async with client.pipeline(transaction=False) as pipe:
            for user_id, names in channels.items():
                await script(keys=[self._key(user_id)], args=[expiry, _key_ttl(), *names], client=pipe)
            await pipe.execute()

    async def set_status(self, user_id, status):
        await self._client().set(f"{self.prefix}:presence_status:{user_id}", status, ex=86400)

    async def get_status(self, user_id):
        value = await self._client().get(f"{self.prefix}:presence_status:{user_id}")
        return value.decode() if value else "online"

    def statuses_now(self, user_ids, now, *, lingering: bool = False) -> dict[str, str]:
        """Blocking, for request threads: every user in one pipelined round trip."""
        if self._sync_client is None:
            import redis

            self._sync_client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        pipe = self._sync_client.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.hgetall(self._key(user_id))
            pipe.get(f"{self.prefix}:presence_status:{user_id}")
        replies = pipe.execute()
        return {
            user_id: _status({c.decode(): e for c, e in sockets.items()}, status.decode() if status else None, now,
                             lingering=lingering)
            for user_id, sockets, status in zip(user_ids, replies[::2], replies[1::2], strict=True)
        }


LINGER = "~"  # the mark of a closed socket's entry in its grace period


def _key_ttl() -> int:
    """Seconds a user's presence hash outlives its last write: longer than a
    socket's refresh period and than the grace a closed socket lingers."""
    return int(max(SOCKET_TTL * 2, settings.CHAT_PRESENCE_GRACE_SECONDS + SOCKET_TTL))

# Refresh open sockets' entries (and put back those a Redis restart lost), but
# never one that has closed since the refresher looked: its lingering entry
# stays the only one, or "offline" would never be announced.
_REFRESH_SCRIPT = """
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[1], '~' .. ARGV[i]) == 0 then redis.call('HSET', KEYS[1], ARGV[i], ARGV[1]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 0
"""

# Add a socket and count the user's other unexpired entries (open or lingering)
# as one step: of two sockets opening at once after an absence, exactly one
# finds nobody there and announces the user online.
_ADD_SCRIPT = """
local others = 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if entries[i] ~= ARGV[1] and tonumber(entries[i + 1]) > tonumber(ARGV[3]) then others = others + 1 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return others
"""


def _count(sockets: dict, *, lingering: bool, besides: str | None = None) -> int:
    """Unexpired entries (already filtered): open sockets, and with ``lingering``
    closed ones in their grace period too; not counting ``besides``."""
    return sum(
        1 for channel in sockets
        if channel != besides and (lingering or not channel.startswith(LINGER))
    )


def _status(sockets: dict, status, now, *, lingering: bool = False) -> str:
    alive = {channel: expiry for channel, expiry in sockets.items() if float(expiry) > now}
    if not _count(alive, lingering=lingering):
        return "offline"
    return status or "online"


_backend = None
_connected: "weakref.WeakSet" = weakref.WeakSet()
# user id -> the pending check whether they went offline (when_gone), one per user.
_offline_checks: dict[str, asyncio.TimerHandle] = {}
# user id -> channel names of this process's sockets closed but not yet removed
# from the shared set (socket_closing, socket_closed).
_closing: dict[str, set[str]] = {}
_refresher: dict = {}


def backend():
    global _backend
    if _backend is None:
        if settings.REDIS_URL:
            _backend = _Redis(settings.REDIS_URL, settings.CHAT_LAYER_PREFIX, settings.CHAT_PRESENCE_MAX_CONNECTIONS)
        else:
            _backend = _Memory()
    return _backend


def reset_backend() -> None:
    """For tests that switch settings."""
    global _backend
    _backend = None


async def _refresh_forever():
    while True:
        await asyncio.sleep(REFRESH_EVERY)
        entries = [(c.user_id, c.channel_name) for c in list(_connected) if getattr(c, "user_id", None)]
        if not entries:
            continue
        try:
            await backend().refresh(entries, time.time() + SOCKET_TTL)
        except Exception:  # noqa: BLE001 - Redis away: sockets will be closed by the layer anyway
            logger.warning("presence refresh failed", exc_info=True)


def _ensure_refresher():
    loop = asyncio.get_running_loop()
    task = _refresher.get(loop)
    if task is None or task.done():
        _refresher.clear() if any(lp.is_closed() for lp in _refresher) else None
        _refresher[loop] = loop.create_task(_refresh_forever())


async def socket_opened(consumer) -> bool:
    """Register a socket; True when it brings the user online (nobody saw them
    present a moment ago: no other socket, open or lingering)."""
    _ensure_refresher()
    now = time.time()
    others = await backend().add(consumer.user_id, consumer.channel_name, now + SOCKET_TTL, now)
    _connected.add(consumer)
    return others == 0


def socket_closing(consumer) -> None:
    """The socket is gone (its close has begun): from now on it no longer
    counts against the user's cap, even before :func:`socket_closed` has
    removed it from the shared set. A crowd that drops and reconnects at once
    is not refused for sockets whose cleanup is still queued."""
    _connected.discard(consumer)
    _closing.setdefault(consumer.user_id, set()).add(consumer.channel_name)


async def socket_closed(consumer) -> int:
    """Unregister a socket (it lingers for the grace period); returns how many
    open sockets the user still has."""
    _connected.discard(consumer)
    grace = settings.CHAT_PRESENCE_GRACE_SECONDS
    try:
        if grace > 0:
            await backend().linger(consumer.user_id, consumer.channel_name, time.time() + grace)
        else:
            await backend().remove(consumer.user_id, consumer.channel_name)
    finally:
        forget_closing(consumer)
    return await backend().live(consumer.user_id, time.time())


def when_gone(user_id, announce) -> None:
    """The user's last open socket here has closed: once the grace period is
    over, ``announce("offline")`` unless they are present again by then (on any
    process). Announced offline while a socket was opening elsewhere, they are
    announced online again right after, so the last word is the right one."""
    user_id = str(user_id)
    pending = _offline_checks.pop(user_id, None)
    if pending is not None:
        pending.cancel()  # one check per user, counted from their latest close

    async def check():
        try:
            if await backend().live(user_id, time.time(), lingering=True):
                return
            await announce("offline")
            if await backend().live(user_id, time.time(), lingering=True):
                await announce("online")
        except Exception as error:  # noqa: BLE001 - presence notices are best-effort
            logger.info("offline notice for %s skipped: %s", user_id, type(error).__name__)
        finally:
            if _offline_checks.get(user_id) is handle:
                del _offline_checks[user_id]

    grace = settings.CHAT_PRESENCE_GRACE_SECONDS
    # A little past the grace: the lingering entries have expired by then.
    handle = _offline_checks[user_id] = asyncio.get_running_loop().call_later(
        grace + 0.05 if grace > 0 else 0.0, lambda: asyncio.ensure_future(check())
    )


def forget_closing(consumer) -> None:
    """The end of :func:`socket_closing`'s mark (removed from the shared set, or
    given up on: the entry expires there on its own)."""
    closing = _closing.get(consumer.user_id)
    if closing is not None:
        closing.discard(consumer.channel_name)
        if not closing:
            del _closing[consumer.user_id]


async def live_sockets(user_id) -> int:
    """The user's sockets in every process, less this process's that are closing."""
    user_id = str(user_id)
    live = await backend().live(user_id, time.time())
    return max(0, live - len(_closing.get(user_id, ())))


async def set_status(user_id, status: str) -> None:
    await backend().set_status(str(user_id), status)


async def statuses(user_ids) -> dict[str, str]:
    """{user_id: "online" | "away" | "offline"}, as shown (lingering sockets count)."""
    result = {}
    now = time.time()
    for user_id in user_ids:
        user_id = str(user_id)
        if await backend().live(user_id, now, lingering=True):
            result[user_id] = await backend().get_status(user_id)
        else:
            result[user_id] = "offline"
    return result


def online_blocking(user_ids) -> set[str]:
    """Who of ``user_ids`` has a live socket now (as strings), for synchronous
    callers that must go on without presence (@here, the notification worker):
    if Redis is away, nobody."""
    from redis.exceptions import RedisError

    user_ids = [str(user_id) for user_id in user_ids]
    if not user_ids:
        return set()
    try:
        found = backend().statuses_now(user_ids, time.time())
    except RedisError as exc:
        logger.warning("presence lookup failed; taking nobody as online: %s", exc)
        metrics.redis_error("presence")
        return set()
    return {user_id for user_id, status in found.items() if status != "offline"}


def statuses_blocking(user_ids) -> dict[str, str]:
    """``statuses`` for synchronous callers (REST views); ``Unavailable`` if Redis is away."""
    from redis.exceptions import RedisError

    try:
        return backend().statuses_now([str(user_id) for user_id in user_ids], time.time(), lingering=True)
    except RedisError as exc:
        logger.warning("presence lookup failed: %s", exc)
        metrics.redis_error("presence")
        raise Unavailable("Presence is unavailable right now; try again shortly.", code="presence_unavailable") from exc
