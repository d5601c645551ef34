"""chat.realtime.layer.FanoutChannelLayer: the channel layer API, across "processes"
(two layer instances on one Redis), the direct fan-out path, and losing Redis."""

import asyncio
import uuid

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from chat.realtime.layer import FanoutChannelLayer
from chat.tests.live import start_redis

pytestmark = pytest.mark.asyncio

WAIT = 2.0


def redis_layer(url: str, prefix: str) -> FanoutChannelLayer:
    return FanoutChannelLayer(hosts=[{"address": url}], prefix=prefix, capacity=5)


@pytest.fixture
def prefix():
    return f"layertest{uuid.uuid4().hex[:8]}"


@pytest.fixture
def two_processes(settings, prefix):
    """Two layers on one Redis, as two daphne processes would have (tests using
    this are marked ``redis``: skipped without REDIS_URL, failed in CI)."""
    return redis_layer(settings.REDIS_URL, prefix), redis_layer(settings.REDIS_URL, prefix)


async def receive(layer, channel, timeout=WAIT):
    return await asyncio.wait_for(layer.receive(channel), timeout)


async def nothing_for(layer, channel, timeout=0.3):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout)


async def close(*layers):
    for layer in layers:
        await layer.flush()


@pytest.mark.redis
async def test_group_send_reaches_members_in_every_process_once(two_processes):
    a, b = two_processes
    a1, a2, b1 = await a.new_channel(), await a.new_channel(), await b.new_channel()
    for layer, channel in ((a, a1), (a, a2), (b, b1)):
        await layer.group_add("room.1", channel)
    await a.group_add("room.2", a2)

    await b.group_send("room.1", {"type": "chat.event", "seq": 1, "text": "héllo"})
    await a.group_send("room.2", {"type": "chat.event", "seq": 7})

    assert await receive(a, a1) == {"type": "chat.event", "seq": 1, "text": "héllo"}
    assert await receive(b, b1) == {"type": "chat.event", "seq": 1, "text": "héllo"}
    assert [await receive(a, a2), await receive(a, a2)] == [
        {"type": "chat.event", "seq": 1, "text": "héllo"},
        {"type": "chat.event", "seq": 7},
    ]
    await nothing_for(a, a1)
    await nothing_for(b, b1)
    await close(a, b)


@pytest.mark.redis
async def test_group_discard_stops_delivery_and_send_reaches_a_channel_in_another_process(two_processes):
    a, b = two_processes
    a1, b1 = await a.new_channel(), await b.new_channel()
    await a.group_add("room.1", a1)
    await b.group_add("room.1", b1)
    await b.group_discard("room.1", b1)
    await b.group_discard("room.1", b1)  # twice is fine

    await a.group_send("room.1", {"type": "chat.event", "seq": 1})
    await a.send(b1, {"type": "chat.disconnect", "reason": "logout"})

    assert await receive(a, a1) == {"type": "chat.event", "seq": 1}
    assert await receive(b, b1) == {"type": "chat.disconnect", "reason": "logout"}
    await nothing_for(b, b1)
    await close(a, b)


@pytest.mark.redis
async def test_direct_handlers_take_messages_or_leave_them_to_the_queue(two_processes):
    a, b = two_processes
    channels = [await a.new_channel() for _ in range(3)]
    taken = []

    async def take_events(message):
        if message["type"] != "chat.event":
            return False
        taken.append(message["seq"])
        return True

    for channel in channels[:2]:
        a.set_direct(channel, take_events)
        await a.group_add("room.1", channel)
    await a.group_add("room.1", channels[2])

    await b.group_send("room.1", {"type": "chat.event", "seq": 1})
    await b.group_send("room.1", {"type": "chat.membership", "seq": 2})

    assert await receive(a, channels[0]) == {"type": "chat.membership", "seq": 2}  # declined: queued
    assert taken == [1, 1]
    assert [await receive(a, channels[2]), await receive(a, channels[2])] == [
        {"type": "chat.event", "seq": 1},
        {"type": "chat.membership", "seq": 2},
    ]
    a.set_direct(channels[1], None)
    await b.group_send("room.1", {"type": "chat.event", "seq": 3})
    assert [(await receive(a, channels[1]))["seq"] for _ in range(2)] == [2, 3]
    await close(a, b)


@pytest.mark.redis
async def test_a_failing_direct_handler_does_not_stop_the_fan_out(two_processes):
    a, b = two_processes
    broken, fine = await a.new_channel(), await a.new_channel()

    async def explode(message):
        raise RuntimeError("boom")

    a.set_direct(broken, explode)
    await a.group_add("room.1", broken)
    await a.group_add("room.1", fine)
    await b.group_send("room.1", {"type": "chat.event", "seq": 1})

    assert await receive(a, fine) == {"type": "chat.event", "seq": 1}
    await close(a, b)


@pytest.mark.redis
async def test_a_full_channel_drops_rather_than_grows(two_processes):
    a, b = two_processes
    channel = await a.new_channel()
    await a.group_add("room.1", channel)
    for seq in range(1, 9):
        await b.group_send("room.1", {"type": "chat.event", "seq": seq})
    await b.group_send("room.1", {"type": "chat.event", "seq": 99})
    await asyncio.sleep(0.3)

    received = [(await receive(a, channel))["seq"] for _ in range(5)]

    assert received == [1, 2, 3, 4, 5]  # capacity 5: the rest were dropped (clients resync by seq)
    await nothing_for(a, channel)
    await close(a, b)


@pytest.mark.redis
async def test_names_are_validated(two_processes):
    a, _b = two_processes
    channel = await a.new_channel()
    with pytest.raises(TypeError):
        await a.group_add("room:1", channel)
    with pytest.raises(TypeError):
        await a.group_send("x" * 200, {"type": "chat.event"})
    await close(*two_processes)


@pytest.mark.redis
async def test_losing_redis_fails_every_receive_and_a_new_redis_works(tmp_path, prefix):
    redis = start_redis(tmp=tmp_path / "redis")
    try:
        layer = redis_layer(redis.url, prefix)
        first, second = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("room.1", first)
        await layer.group_add("room.1", second)
        waiting = [asyncio.ensure_future(layer.receive(channel)) for channel in (first, second)]
        await asyncio.sleep(0.1)

        redis.stop()

        for task in waiting:
            with pytest.raises(RedisConnectionError):
                await asyncio.wait_for(task, WAIT)
        with pytest.raises((RedisConnectionError, OSError)):
            await layer.group_send("room.1", {"type": "chat.event", "seq": 1})
        with pytest.raises((RedisConnectionError, OSError)):
            await layer.new_channel()  # a socket connecting meanwhile is refused, not left deaf

        redis.start_and_wait()
        again = await layer.new_channel()
        await layer.group_add("room.1", again)
        await layer.group_send("room.1", {"type": "chat.event", "seq": 2})
        assert await receive(layer, again) == {"type": "chat.event", "seq": 2}
        await layer.flush()
    finally:
        redis.stop()


async def test_in_memory_without_redis(prefix):
    layer = FanoutChannelLayer(prefix=prefix)
    one, two = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room.1", one)
    await layer.group_add("room.1", two)
    await layer.group_discard("room.1", two)

    await layer.group_send("room.1", {"type": "chat.event", "seq": 1})
    await layer.send(two, {"type": "chat.disconnect"})

    assert await receive(layer, one) == {"type": "chat.event", "seq": 1}
    assert await receive(layer, two) == {"type": "chat.disconnect"}
    await nothing_for(layer, one)
