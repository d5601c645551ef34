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
from collections.abc import Awaitable, Callable, Hashable


class SharedReads:
    def __init__(self):
        self._inflight: dict[Hashable, asyncio.Future] = {}
        self.reads = 0  # reads made (the rest joined one in flight)
        self.joined = 0

    async def get(self, key: Hashable, read: Callable[[], Awaitable]):
        """The result of ``read()``, or of the same key's read already under way."""
        future = self._inflight.get(key)
        if future is not None:
            self.joined += 1
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._inflight[key] = future
        self.reads += 1
        try:
            result = await read()
        except BaseException as error:
            future.set_exception(error if isinstance(error, Exception) else asyncio.CancelledError())
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._inflight[key]


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
