"""One rate limiter for REST and WebSocket: django-ratelimit's counters on the
shared cache, per user (or client address) and per kind of action.

chat.commands (and the accounts API for logins) call :func:`check` *before* the service, outside its transaction, so a
rejection is counted in ``RateLimitLog`` (one row per user, room, kind and
window) even though the request fails.
"""

import hashlib
import logging
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F
from django_ratelimit.core import (
    EXPIRATION_FUDGE,
    _get_window,
    _make_cache_key,
    _split_rate,
    get_usage,
)
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from chatsite.core import metrics
from chatsite.core.exceptions import RateLimited

from .cache import redis_script, shared_cache
from .models import RateLimitLog

logger = logging.getLogger(__name__)

# Kinds of action and their default rates ("count/period", period like 10s, m, h).
DEFAULT_RATES = {
    "message.send": "30/10s",
    "message.edit": "30/m",
    "message.delete": "30/m",
    "reaction": "60/m",
    "pin": "30/m",
    "save": "60/m",
    "export": "10/h",
    "read": "120/m",
    "typing": "30/10s",
    "room.create": "20/h",
    "room.update": "30/m",
    "member": "60/m",
    "settings": "60/m",
    "upload": "20/m",
    "auth.login": "10/m",
    "auth.register": "5/h",
    "ws.connect": "30/m",
}
metrics.declare(metrics.RATE_LIMITED, *((kind,) for kind in DEFAULT_RATES))


def rate_for(kind: str) -> str:
    return {**DEFAULT_RATES, **settings.CHAT_RATE_LIMITS}.get(kind) or DEFAULT_RATES[kind]


def _window_start(period: int) -> datetime:
    now = int(time.time())
    return datetime.fromtimestamp(now - now % period, tz=UTC)


def _existing_room_id(room_id):
    """``room_id`` if such a room exists (the log references rooms; a refused
    write may name any id), else None. The room model comes from the log's own
    field, so core imports nothing of chat."""
    if callable(room_id):
        room_id = room_id()
    if room_id in (None, ""):
        return None
    rooms = RateLimitLog._meta.get_field("room").related_model.objects
    try:
        return room_id if rooms.filter(pk=room_id).exists() else None
    except (ValidationError, ValueError):
        return None


def record_rejection(*, kind: str, period: int, user=None, room_id=None, client_key: str = "") -> None:
    window_start = _window_start(period)
    room_id = _existing_room_id(room_id)
    identity = f"{getattr(user, 'pk', '')}|{room_id or ''}|{client_key}|{kind}|{window_start.isoformat()}"
    bucket = hashlib.sha256(identity.encode()).hexdigest()
    updated = RateLimitLog.objects.filter(bucket=bucket).update(count=F("count") + 1)
    if not updated:
        _row, created = RateLimitLog.objects.get_or_create(
            bucket=bucket,
            defaults={
                "user": user if getattr(user, "pk", None) else None,
                "room_id": room_id,
                "client_key": client_key[:64],
                "event_type": kind,
                "window_start": window_start,
                "window_seconds": period,
                "count": 1,
            },
        )
        if not created:
            RateLimitLog.objects.filter(bucket=bucket).update(count=F("count") + 1)


# One round trip: count the action, and start the window's expiry with its first one.
_COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _count(group: str, who: str, rate: str) -> dict | None:
    """django-ratelimit's usage of ``group`` by ``who``, incremented: its keys,
    windows and answer. On the Redis cache in one script (its own ``add``
    then ``incr`` would be two round trips, on every write)."""
    cache = shared_cache(getattr(settings, "RATELIMIT_USE_CACHE", "default"))
    if not isinstance(cache, RedisCache):
        return get_usage(None, group=group, key=lambda _group, _request: who, rate=rate, increment=True)
    limit, period = _split_rate(rate)
    window = _get_window(who, period)
    key = cache.make_key(_make_cache_key(group, window, rate, who, None))
    script, client = redis_script(cache, _COUNT_SCRIPT)
    count = script(keys=[key], args=[period + EXPIRATION_FUDGE], client=client)
    return {"count": count, "limit": limit, "should_limit": count > limit, "time_left": window - int(time.time())}


def allows(*, kind: str, user_id) -> bool:
    """Count one ``kind`` action of ``user_id``: whether it is within the rate.
    Nothing is logged or raised: a caller refused here hands the request to a
    path that calls :func:`check` (which counts it again, past the limit
    already, and logs and answers the refusal)."""
    if not settings.CHAT_RATE_LIMITS_ENABLED:
        return True
    try:
        usage = _count(f"chat.{kind}", str(user_id), rate_for(kind))
    except (ConnectionInterrupted, RedisError):
        return True  # as check(): unmetered while the cache is away (check() logs it)
    return usage is None or not usage["should_limit"]


def check(*, kind: str, user=None, client_key: str = "", room_id=None) -> None:
    """Count one ``kind`` action; raise :class:`RateLimited` past the rate.

    Keyed by ``user`` when authenticated, otherwise by ``client_key`` (an IP).
    ``room_id``: the room the write aims at, kept in the log of a rejection
    (or a function returning it, called only then).
    """
    if not settings.CHAT_RATE_LIMITS_ENABLED:
        return
    rate = rate_for(kind)
    who = str(user.pk) if getattr(user, "is_authenticated", False) else f"anon:{client_key}"
    try:
        usage = _count(f"chat.{kind}", who, rate)
    except (ConnectionInterrupted, RedisError):
        # The shared cache is away: keep chatting (writes persist), unmetered.
        logger.warning("rate limit %s not checked: cache unreachable", kind)
        metrics.redis_error("cache")
        return
    if usage is None or not usage["should_limit"]:
        return
    _limit, period = _split_rate(rate)
    metrics.rate_limited(kind)
    record_rejection(kind=kind, period=period, user=user, room_id=room_id, client_key=client_key)
    retry_after = max(1, int(usage["time_left"]))
    raise RateLimited(refusal_text(kind, retry_after), retry_after=retry_after)


# What each kind of write is, in the words of the person refused (no internal names).
ACTIVITIES = {
    "message.send": "sending messages",
    "message.edit": "editing messages",
    "message.delete": "deleting messages",
    "reaction": "reacting",
    "pin": "pinning messages",
    "save": "saving messages",
    "export": "starting exports",
    "read": "marking messages read",
    "typing": "sending typing notices",
    "room.create": "creating rooms",
    "room.update": "changing rooms",
    "member": "changing members",
    "settings": "changing settings",
    "upload": "uploading files",
    "auth.login": "trying to log in",
    "auth.register": "creating accounts",
    "ws.connect": "connecting",
}


def refusal_text(kind: str, retry_after: int) -> str:
    """"You're sending messages too fast; wait 7 seconds." """
    seconds = "1 second" if retry_after == 1 else f"{retry_after} seconds"
    return f"You're {ACTIVITIES.get(kind, 'doing this')} too fast; wait {seconds}."
