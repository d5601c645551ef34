"""Reads of a room's log shared by the sockets of one process.

When a burst of events reaches a process out of order, or a reconnecting crowd
asks ``sync`` from the same seq, every local socket of a room would read the
same part of the log from PostgreSQL — 200 sockets, 200 reads, just when the
server is busiest. :class:`SharedReads` lets one socket read it and the others
use that read: one read per room and starting seq in flight per process,
whatever the number of sockets, and its result kept for ``keep`` seconds for
the sockets that ask a moment later (a crowd reconnecting does not arrive in
one instant). Each socket still checks, before sending anything, its own user
against the room's members read with it, and that the read reaches far
enough (the consumer's ``at_least``): a read that does not is made again, for
that socket alone.
"""

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

KEEP_SECONDS = 2.0  # how long a finished read serves later askers
KEEP_MAX = 16 * 2**20  # the weight of the finished reads kept at most (the consumer weighs bytes); the oldest go first


class SharedReads:
    def __init__(self, keep: float = KEEP_SECONDS, keep_max: int = KEEP_MAX,
                 weigh: Callable[[object], int] = lambda result: 1):
        self.keep, self.keep_max, self.weigh = keep, keep_max, weigh
        self._inflight: dict[Hashable, asyncio.Future] = {}
        self._kept: OrderedDict[Hashable, tuple[float, object, int]] = OrderedDict()  # key -> (until, result, weight)
        self._weight = 0
        self.reads = 0  # reads made (the rest joined one in flight, or used a kept one)
        self.joined = 0
        self.kept_used = 0

    async def get(self, key: Hashable, read: Callable[[], Awaitable], *, usable: Callable[[object], bool] | None = None):
        """The result of ``read()``, of the same key's read under way, or of one
        finished less than ``keep`` seconds ago for which ``usable(result)`` holds.

        The read runs as a task of its own: a socket that is cancelled while it
        waits (its client left) never cancels the read the others wait for.
        """
        now = time.monotonic()
        self._expire(now)
        kept = self._kept.get(key)
        if kept is not None:
            until, result, _weight = kept
            if until > now and (usable is None or usable(result)):
                self.kept_used += 1
                return result
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
        if task.cancelled() or task.exception() is not None or self.keep <= 0:
            return
        now = time.monotonic()
        self._forget(key)
        result = task.result()
        weight = max(1, self.weigh(result))
        self._kept[key] = (now + self.keep, result, weight)
        self._weight += weight
        self._expire(now)

    def _expire(self, now: float) -> None:
        """The oldest first: drop what has expired, and what is past the cap."""
        while self._kept:
            oldest_key, (until, _result, _weight) = next(iter(self._kept.items()))
            if until > now and self._weight <= self.keep_max:
                break
            self._forget(oldest_key)

    def _forget(self, key: Hashable) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._weight -= kept[2]
