"""Reads of a room's log shared by the sockets of one process.

When a burst of events reaches a process out of order, or a reconnecting crowd
asks ``sync`` from the same seq, every local socket of a room would read the
same part of the log from PostgreSQL at the same moment — 200 sockets, 200
reads, just when the server is busiest. :class:`SharedReads` lets one socket
read it and the others wait for that read: one read per room and starting seq
in flight per process, whatever the number of sockets. Each socket still checks
its own user against the room's members read with it before sending anything.
"""

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable


class SharedReads:
    def __init__(self):
        self._inflight: dict[Hashable, asyncio.Future] = {}
        self.reads = 0  # reads made (the rest joined one in flight)
        self.joined = 0

    async def get(self, key: Hashable, read: Callable[[], Awaitable]):
        """The result of ``read()``, or of the same key's read already under way.

        The read runs as a task of its own: a socket that is cancelled while it
        waits (its client left) never cancels the read the others wait for.
        """
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(read())
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._done, key))
            self.reads += 1
        else:
            self.joined += 1
        return await asyncio.shield(task)

    def _done(self, key: Hashable, task: asyncio.Future) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        _retrieve(task)


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
