"""The database threads of the asynchronous side.

Database work of sockets (the handshake's ticket check, a socket's commands
and reads) runs on one bounded pool of threads per process, in parallel.
Channels' default (``thread_sensitive``) runs all of a process's database calls
one after another on one thread: a queue under load, and under a reconnect
storm every handshake's ticket check waits behind every other. One socket's
frames still run one at a time: the consumer awaits each before the next. The
pool is metered: its queue is one of the load-shedding signals
(chatsite/core/overload.py).
"""

from channels.db import DatabaseSyncToAsync
from django.conf import settings

from . import overload

executor = overload.gauge.watch(
    overload.MeteredExecutor(max_workers=settings.CHAT_DB_THREADS, thread_name_prefix="chat-db")
)


def database_sync_to_async(func):
    """``func`` as a coroutine function run on the pool (old connections closed
    around it, as Channels does)."""
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=executor)
