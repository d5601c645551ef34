"""One cache client per process for code that runs under WebSockets.

Django keeps a cache instance per asyncio context (``caches`` is an asgiref
``Local``), and a socket's context lives as long as the socket: every socket
that touched ``django.core.cache.cache`` (its ticket redeemed at the handshake,
a rate-limited write) kept its own django-redis client — 25 KiB of Redis
response callbacks a socket, a third of an idle socket's memory, measured with
tracemalloc. The Redis clients share one connection pool and are thread-safe,
as is the local-memory cache, so one instance serves every context.
"""

import threading

from django.core.cache import caches
from django.core.signals import setting_changed
from django.dispatch import receiver

_lock = threading.Lock()
_shared: dict[str, object] = {}
_scripts: dict[tuple[int, str], object] = {}


def shared_cache(alias: str = "default"):
    """The process's instance of cache ``alias``."""
    found = _shared.get(alias)
    if found is None:
        with _lock:
            found = _shared.get(alias)
            if found is None:
                found = _shared[alias] = caches.create_connection(alias)
    return found


@receiver(setting_changed)
def _forget(*, setting, **_kwargs):
    if setting == "CACHES":
        _shared.clear()


def redis_script(cache, source: str):
    """``(script, client)``: the Lua ``source`` registered once on the Redis
    client ``cache`` (a django-redis cache) writes with; call it as
    ``script(keys=…, args=…, client=client)`` (one round trip, by its SHA)."""
    client = cache.client.get_client(write=True)
    key = (id(client), source)
    script = _scripts.get(key)
    if script is None:
        script = _scripts[key] = client.register_script(source)
    return script, client
