"""chat.realtime.replays: one read of a room's log per process, however many sockets ask."""

import asyncio

import pytest

from chat.realtime.replays import SharedReads


async def test_sockets_asking_at_once_share_one_read():
    reads = SharedReads(keep=0)
    started, release = [], asyncio.Event()

    async def read():
        started.append(1)
        await release.wait()
        return ["frame"]

    waiting = [asyncio.ensure_future(reads.get(("room", 5), read)) for _ in range(200)]
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*waiting) == [["frame"]] * 200
    assert len(started) == 1 and (reads.reads, reads.joined) == (1, 199)
    # Once done, the next asker reads again (nothing is cached), and other keys never wait.
    assert await reads.get(("room", 5), read) == ["frame"] and len(started) == 2


async def test_a_failed_read_fails_every_waiter_and_is_not_kept():
    reads = SharedReads()
    gate = asyncio.Event()

    async def failing():
        await gate.wait()
        raise LookupError("gone")

    waiting = [asyncio.ensure_future(reads.get("key", failing)) for _ in range(3)]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, LookupError) for result in results)

    async def works():
        return 1

    assert await reads.get("key", works) == 1


async def test_a_cancelled_asker_does_not_cancel_the_others():
    reads = SharedReads()
    release = asyncio.Event()

    async def read():
        await release.wait()
        return "done"

    first = asyncio.ensure_future(reads.get("k", read))
    second = asyncio.ensure_future(reads.get("k", read))
    await asyncio.sleep(0.01)
    second.cancel()
    release.set()
    assert await first == "done"
    with pytest.raises(asyncio.CancelledError):
        await second


async def test_the_first_asker_leaving_does_not_cancel_the_read_the_others_wait_for():
    reads = SharedReads()
    release = asyncio.Event()

    async def read():
        await release.wait()
        return "done"

    first = asyncio.ensure_future(reads.get("k", read))
    others = [asyncio.ensure_future(reads.get("k", read)) for _ in range(3)]
    await asyncio.sleep(0.01)
    first.cancel()  # its client went away while the read was under way
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*others) == ["done"] * 3
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_finished_read_serves_later_askers_while_kept_and_usable(monkeypatch):
    from chat.realtime import replays

    now = [1000.0]
    monkeypatch.setattr(replays.time, "monotonic", lambda: now[0])
    reads = SharedReads(keep=2.0)
    made = []

    async def read():
        made.append(1)
        return {"room_seq": 10 + len(made)}

    first = await reads.get("k", read)
    assert first == {"room_seq": 11}
    # A moment later: the kept one, if it reaches far enough for this asker.
    now[0] += 1.5
    assert await reads.get("k", read, usable=lambda log: log["room_seq"] >= 11) is first
    assert (reads.reads, reads.kept_used) == (1, 1)
    # Not far enough (a seq this asker knows was committed since): read again.
    assert await reads.get("k", read, usable=lambda log: log["room_seq"] >= 12) == {"room_seq": 12}
    # Past the keeping time: read again whatever the asker would accept.
    now[0] += 2.5
    assert await reads.get("k", read) == {"room_seq": 13}
    assert reads.reads == 3 and len(made) == 3


async def test_kept_reads_are_bounded_by_weight_and_the_oldest_go_first():
    reads = SharedReads(keep=60.0, keep_max=10, weigh=len)

    async def read(size):
        return "x" * size

    kept = []
    for key, size in enumerate([4, 4, 4, 1, 30]):
        await reads.get(key, lambda size=size: read(size))
        kept.append(list(reads._kept))
    # The third read goes past 10: the first is dropped; one heavier than the cap is not kept at all.
    assert kept == [[0], [0, 1], [1, 2], [1, 2, 3], []]
    assert reads._weight == 0
