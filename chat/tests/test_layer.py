"""chat.realtime.layer: RedisFanoutLayer and InMemoryFanoutLayer.

The channel layer API across "processes" (two layer instances on one Redis),
the declared extensions (direct delivery, blocking group send), channels the
layer did not create, concurrent group changes, and losing Redis. Most tests
run on both backends: for the in-memory one, both "processes" are the same
layer (there is only one process).

Ported in spirit from channels_redis's tests/test_core.py and
tests/test_pubsub.py where they apply: send/receive and ordering, groups
(basic, same prefix, many channels), receive on a channel this layer does not
own, reconnect after Redis restarts, random resets not reusing names.
"""

import asyncio
import logging
import random
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from chat.realtime.layer import (
    BlockingGroupSend,
    DirectDelivery,
    InMemoryFanoutLayer,
    RedisFanoutLayer,
)
from chat.tests.live import start_redis

WAIT = 2.0
BACKENDS = [pytest.param("redis", marks=pytest.mark.redis), "memory"]


def redis_layer(url: str, prefix: str, **kwargs) -> RedisFanoutLayer:
    kwargs.setdefault("capacity", 5)
    return RedisFanoutLayer(hosts=[{"address": url}], prefix=prefix, **kwargs)


@pytest.fixture
def prefix():
    return f"layertest{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=BACKENDS)
async def make_pair(request, settings, prefix):
    """``make_pair(**config)``: two layers as two daphne processes would have them
    on one Redis (``redis``: skipped without REDIS_URL, failed in CI), or the one
    in-memory layer twice. Flushed at the end."""
    made = []

    def make(**kwargs):
        kwargs.setdefault("capacity", 5)
        if request.param == "redis":
            pair = redis_layer(settings.REDIS_URL, prefix, **kwargs), redis_layer(settings.REDIS_URL, prefix, **kwargs)
        else:
            layer = InMemoryFanoutLayer(prefix=prefix, **kwargs)
            pair = layer, layer
        made.extend(pair)
        return pair

    make.backend = request.param
    yield make
    await close(*made)


@pytest.fixture
def two_processes(make_pair):
    return make_pair()


async def receive(layer, channel, timeout=WAIT):
    return await asyncio.wait_for(layer.receive(channel), timeout)


async def nothing_for(layer, channel, timeout=0.3):
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout)


async def close(*layers):
    for layer in {id(layer): layer for layer in layers}.values():
        await layer.flush()


async def subscribers(layer: RedisFanoutLayer, group: str) -> int:
    """How many connections Redis has subscribed to the group (PUBSUB NUMSUB)."""
    from redis.asyncio import Redis

    client = Redis.from_url(layer.host["address"])
    try:
        [(_name, count)] = await client.pubsub_numsub(layer.group_channel(group))
        return count
    finally:
        await client.aclose()


async def settles_at(layer: RedisFanoutLayer, group: str, expected: int, timeout=WAIT) -> None:
    """NUMSUB reaches ``expected`` (an UNSUBSCRIBE written on one connection may
    reach Redis after a command sent on another) and stays there."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (count := await subscribers(layer, group)) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"{count} subscribers to {group}, expected {expected}"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    assert await subscribers(layer, group) == expected


# --- the channel layer API -------------------------------------------------------------
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


async def test_group_discard_stops_delivery_and_send_reaches_a_channel_in_another_process(two_processes):
    a, b = two_processes
    a1, b1 = await a.new_channel(), await b.new_channel()
    await a.group_add("room.1", a1)
    await b.group_add("room.1", b1)
    await b.group_discard("room.1", b1)
    await b.group_discard("room.1", b1)  # twice is fine
    await b.group_discard("room.9", b1)  # so is a group it never joined

    await a.group_send("room.1", {"type": "chat.event", "seq": 1})
    await a.send(b1, {"type": "chat.disconnect", "reason": "logout"})

    assert await receive(a, a1) == {"type": "chat.event", "seq": 1}
    assert await receive(b, b1) == {"type": "chat.disconnect", "reason": "logout"}
    await nothing_for(b, b1)


async def test_send_to_own_channels_within_and_across_processes_keeps_order(two_processes):
    a, b = two_processes
    b1 = await b.new_channel()

    for n in (1, 2, 3):
        await a.send(b1, {"type": "message", "n": n})  # from the other process: in order
    assert [(await receive(b, b1))["n"] for _ in range(3)] == [1, 2, 3]
    for n in (4, 5):
        await b.send(b1, {"type": "message", "n": n})  # from its own: delivered at once
    assert [(await receive(b, b1))["n"] for _ in range(2)] == [4, 5]

    own = await a.new_channel()
    await a.send(own, {"type": "message", "text": "local only please"})
    assert await receive(a, own) == {"type": "message", "text": "local only please"}


async def test_groups_with_channels_of_the_same_prefix(two_processes):
    a, b = two_processes
    channels = [await a.new_channel(prefix="test-gr-chan") for _ in range(3)]
    for channel in channels:
        await a.group_add("test-group", channel)
    await a.group_discard("test-group", channels[1])
    await b.group_send("test-group", {"type": "message.1"})

    assert (await receive(a, channels[0]))["type"] == "message.1"
    assert (await receive(a, channels[2]))["type"] == "message.1"
    await nothing_for(a, channels[1])


async def test_channel_names_are_not_reused_after_a_random_reset(two_processes):
    a, _b = two_processes
    random.seed(1)
    first = await a.new_channel()
    random.seed(1)
    assert await a.new_channel() != first


async def test_a_group_with_many_channels_in_two_processes_gets_each_message_once(make_pair):
    a, b = make_pair(capacity=100)
    here = [await a.new_channel() for _ in range(300)]
    there = [await b.new_channel() for _ in range(100)] if b is not a else []
    taken = {}

    async def take(message, channel):
        taken[channel] = taken.get(channel, 0) + 1
        return True

    for channel in here[::2]:
        a.attach(channel, lambda message, channel=channel: take(message, channel))
    await asyncio.gather(*(a.group_add("big", channel) for channel in here))
    await asyncio.gather(*(b.group_add("big", channel) for channel in there))
    await asyncio.gather(*(a.group_discard("big", channel) for channel in here[:10]))

    await b.group_send("big", {"type": "chat.event", "seq": 1})

    for layer, channels in ((a, here[11::2]), (b, there)):
        received = await asyncio.gather(*(receive(layer, channel) for channel in channels))
        assert received == [{"type": "chat.event", "seq": 1}] * len(channels)
    assert taken == {channel: 1 for channel in here[10::2]}
    for channel in here[:10]:
        await nothing_for(a, channel, timeout=0.05)
    for layer, channel in [(a, c) for c in here[11::2]][:5] + [(b, c) for c in there][:5]:
        await nothing_for(layer, channel, timeout=0.05)  # once, not twice


async def test_a_group_keeps_the_order_of_its_messages(make_pair):
    a, b = make_pair(capacity=500)
    queued, direct = await a.new_channel(), await a.new_channel()
    other = await b.new_channel()
    seen = []

    async def take_every_other(message):
        await asyncio.sleep(0)  # a handler that yields must not reorder the fan-out
        if message["seq"] % 2:
            seen.append(message["seq"])
            return True
        return False

    a.attach(direct, take_every_other)
    for layer, channel in ((a, queued), (a, direct), (b, other)):
        await layer.group_add("room.1", channel)

    for seq in range(1, 201):
        await b.group_send("room.1", {"type": "chat.event", "seq": seq})

    assert [(await receive(a, queued))["seq"] for _ in range(200)] == list(range(1, 201))
    assert [(await receive(b, other))["seq"] for _ in range(200)] == list(range(1, 201))
    assert [(await receive(a, direct))["seq"] for _ in range(100)] == list(range(2, 201, 2))
    assert seen == list(range(1, 201, 2))


async def test_group_send_blocking_from_a_thread_keeps_order(make_pair):
    a, b = make_pair(capacity=500)
    channel = await a.new_channel()
    await a.group_add("room.1", channel)

    def publish():
        for seq in range(1, 101):
            b.group_send_blocking("room.1", {"type": "chat.event", "seq": seq})

    await asyncio.to_thread(publish)

    assert [(await receive(a, channel))["seq"] for _ in range(100)] == list(range(1, 101))


async def test_a_full_channel_drops_rather_than_grows(two_processes, caplog):
    a, b = two_processes
    channel = await a.new_channel()
    await a.group_add("room.1", channel)
    with caplog.at_level(logging.WARNING, logger="chat.realtime.layer"):
        for seq in range(1, 9):
            await b.group_send("room.1", {"type": "chat.event", "seq": seq})
        await b.group_send("room.1", {"type": "chat.event", "seq": 99})
        await a.send(channel, {"type": "chat.disconnect"})  # send() drops too: never ChannelFull
        await asyncio.sleep(0.3)

    received = [(await receive(a, channel))["seq"] for _ in range(5)]

    assert received == [1, 2, 3, 4, 5]  # capacity 5: the rest were dropped (clients resync by seq)
    await nothing_for(a, channel)
    assert sum("is full" in record.getMessage() for record in caplog.records) == 5


async def test_channel_capacity_per_name_pattern(make_pair):
    a, _b = make_pair(capacity=5, channel_capacity={"small.*": 2})
    small, big = await a.new_channel(prefix="small"), await a.new_channel()
    for channel in (small, big):
        await a.group_add("room.1", channel)
    for seq in range(1, 5):
        await a.group_send("room.1", {"type": "chat.event", "seq": seq})
    await asyncio.sleep(0.2)

    assert [(await receive(a, small))["seq"] for _ in range(2)] == [1, 2]
    await nothing_for(a, small)
    assert [(await receive(a, big))["seq"] for _ in range(4)] == [1, 2, 3, 4]


async def test_names_are_validated(two_processes):
    a, _b = two_processes
    channel = await a.new_channel()
    with pytest.raises(TypeError):
        await a.group_add("room:1", channel)
    with pytest.raises(TypeError):
        await a.group_send("x" * 200, {"type": "chat.event"})
    with pytest.raises(TypeError):
        await a.send("=+135!", {"type": "foom"})
    with pytest.raises(TypeError):
        await a.receive("=+135!")


# --- channels this layer did not create ------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "test-channel",  # a named channel shared between consumers (channels_redis's core layer has them)
        "specific.abc123!def456",  # a channels_redis process-specific name
        "specific!0123456789abcdef0123456789abcdef",
    ],
)
async def test_a_channel_this_layer_did_not_create_raises_not_implemented(two_processes, name):
    a, _b = two_processes

    for attempt in (
        a.receive(name),
        a.send(name, {"type": "test.message"}),
        a.group_add("room.1", name),
    ):
        with pytest.raises(NotImplementedError, match=r"new_channel\(\)"):
            await asyncio.wait_for(attempt, WAIT)  # raises at once: never waits forever
    with pytest.raises(NotImplementedError):
        a.attach(name, _decline)
    await a.group_discard("room.1", name)  # not a member: nothing to do
    a.detach(name)  # nor to forget


@pytest.mark.redis
async def test_receive_on_a_channel_another_process_owns_raises(settings, prefix):
    a, b = redis_layer(settings.REDIS_URL, prefix), redis_layer(settings.REDIS_URL, prefix)
    mine = await a.new_channel()
    try:
        with pytest.raises(NotImplementedError, match="another process or event loop"):
            await asyncio.wait_for(b.receive(mine), WAIT)
        with pytest.raises(NotImplementedError, match="another process or event loop"):
            await b.group_add("room.1", mine)
        with pytest.raises(NotImplementedError):
            b.attach(mine, _decline)
        await b.send(mine, {"type": "test.message"})  # sending to it is what works
        assert await receive(a, mine) == {"type": "test.message"}
    finally:
        await close(a, b)


async def test_in_memory_layer_shares_groups_between_event_loops(prefix):
    """The in-memory layer's "other process" is another event loop (thread) of this one."""
    layer = InMemoryFanoutLayer(prefix=prefix)
    main_loop = asyncio.get_running_loop()
    ready = main_loop.create_future()

    async def worker():
        channel = await layer.new_channel()
        await layer.group_add("room.1", channel)
        main_loop.call_soon_threadsafe(ready.set_result, channel)
        got = [await receive(layer, channel) for _ in range(3)]
        await layer.flush()
        return got

    thread = asyncio.ensure_future(asyncio.to_thread(asyncio.run, worker()))
    theirs = await asyncio.wait_for(ready, WAIT)
    mine = await layer.new_channel()
    await layer.group_add("room.1", mine)

    await layer.group_send("room.1", {"type": "chat.event", "seq": 1})
    await asyncio.to_thread(layer.group_send_blocking, "room.1", {"type": "chat.event", "seq": 2})
    await layer.send(theirs, {"type": "chat.disconnect"})
    with pytest.raises(NotImplementedError, match="another process or event loop"):
        await layer.receive(theirs)

    assert await asyncio.wait_for(thread, WAIT) == [
        {"type": "chat.event", "seq": 1},
        {"type": "chat.event", "seq": 2},
        {"type": "chat.disconnect"},
    ]
    assert [await receive(layer, mine), await receive(layer, mine)] == [
        {"type": "chat.event", "seq": 1},
        {"type": "chat.event", "seq": 2},
    ]
    await layer.group_send("room.1", {"type": "chat.event", "seq": 3})  # the other loop is gone: fine
    assert await receive(layer, mine) == {"type": "chat.event", "seq": 3}
    await layer.flush()


# --- concurrent group changes ------------------------------------------------------------------
async def _group_state_matches(make_pair, a, b, group, members, everyone):
    """A message sent now reaches exactly ``members``; Redis has the group
    subscribed once if there are members, else not at all."""
    if make_pair.backend == "redis":
        await settles_at(a, group, 1 if members else 0)
    await b.group_send(group, {"type": "chat.event", "group": group})
    for channel in everyone:
        if channel in members:
            assert await receive(a, channel) == {"type": "chat.event", "group": group}
        else:
            await nothing_for(a, channel, timeout=0.05)


async def test_add_and_discard_of_one_group_at_the_same_time(make_pair):
    a, b = make_pair(capacity=100)
    one, two = await a.new_channel(), await a.new_channel()

    # Added then discarded while the SUBSCRIBE is on its way: not a member, not subscribed.
    await asyncio.gather(a.group_add("g1", one), a.group_discard("g1", one))
    await _group_state_matches(make_pair, a, b, "g1", set(), [one, two])

    # The last member leaves while another joins: UNSUBSCRIBE then SUBSCRIBE.
    await a.group_add("g2", one)
    await asyncio.gather(a.group_discard("g2", one), a.group_add("g2", two))
    await _group_state_matches(make_pair, a, b, "g2", {two}, [one, two])

    # Add, discard, add: the second add returns only once its own SUBSCRIBE is confirmed.
    await asyncio.gather(a.group_add("g3", one), a.group_discard("g3", one), a.group_add("g3", two))
    await _group_state_matches(make_pair, a, b, "g3", {two}, [one, two])

    # Discard and add of the same channel: the add is the later one.
    await a.group_add("g4", one)
    await asyncio.gather(a.group_discard("g4", one), a.group_add("g4", one))
    await _group_state_matches(make_pair, a, b, "g4", {one}, [one, two])


async def test_random_concurrent_adds_and_discards_converge_on_the_last_one(make_pair):
    a, b = make_pair(capacity=100)
    channels = [await a.new_channel() for _ in range(3)]
    rng = random.Random(20240611)
    for round_ in range(25):
        group = f"race.{round_}"
        members = set()
        operations = []
        for _ in range(rng.randint(2, 8)):
            channel = rng.choice(channels)
            if rng.random() < 0.5:
                operations.append(a.group_add(group, channel))
                members.add(channel)
            else:
                operations.append(a.group_discard(group, channel))
                members.discard(channel)
        await asyncio.gather(*operations)  # they start in this order
        await _group_state_matches(make_pair, a, b, group, members, channels)


# --- extensions ----------------------------------------------------------------------------------
async def _decline(message):
    return False


@pytest.mark.parametrize("layer_class", [RedisFanoutLayer, InMemoryFanoutLayer])
def test_extensions_are_declared_and_follow_their_protocols(layer_class):
    layer = layer_class(hosts=["redis://127.0.0.1:6379/0"]) if layer_class is RedisFanoutLayer else layer_class()
    assert layer.extensions == ["groups", "flush", "blocking_group_send", "direct"]
    assert isinstance(layer, DirectDelivery)
    assert isinstance(layer, BlockingGroupSend)
    # chat.events.broadcast looks the extensions up by these names.
    assert {"blocking_group_send", "direct"} <= set(layer.extensions)


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
        a.attach(channel, take_events)
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
    a.attach(channels[1], _decline)  # attaching again replaces the handler
    await b.group_send("room.1", {"type": "chat.event", "seq": 3})
    assert [(await receive(a, channels[1]))["seq"] for _ in range(2)] == [2, 3]
    assert taken == [1, 1, 3]


async def test_detach_forgets_the_channel_its_queue_and_its_groups(make_pair):
    a, b = make_pair()
    gone, stays = await a.new_channel(), await a.new_channel()
    a.attach(gone, _decline)
    await a.group_add("room.1", gone)
    await a.group_add("room.2", gone)
    await a.group_add("room.2", stays)
    await a.send(gone, {"type": "chat.event", "seq": 0})  # left in its queue

    a.detach(gone)
    a.detach(gone)  # twice is fine

    if make_pair.backend == "redis":
        await settles_at(a, "room.1", 0)  # its last local member left: unsubscribed
        await settles_at(a, "room.2", 1)
    await b.group_send("room.1", {"type": "chat.event", "seq": 1})
    await b.group_send("room.2", {"type": "chat.event", "seq": 2})
    await b.send(gone, {"type": "chat.disconnect"})
    assert await receive(a, stays) == {"type": "chat.event", "seq": 2}
    await nothing_for(a, gone)  # queue forgotten: what was in it and what came after is dropped


async def test_a_failing_direct_handler_does_not_stop_the_fan_out(two_processes, caplog):
    a, b = two_processes
    broken, cancelled, fine = await a.new_channel(), await a.new_channel(), await a.new_channel()

    async def explode(message):
        raise RuntimeError("boom")

    async def cancel(message):
        raise asyncio.CancelledError  # e.g. it awaited something that was cancelled

    a.attach(broken, explode)
    a.attach(cancelled, cancel)
    for channel in (broken, cancelled, fine):
        await a.group_add("room.1", channel)
    await b.group_send("room.1", {"type": "chat.event", "seq": 1})
    await b.group_send("room.1", {"type": "chat.event", "seq": 2})

    assert [(await receive(a, fine))["seq"] for _ in range(2)] == [1, 2]  # the hub goes on
    await nothing_for(a, broken)  # a failed handler's message is dropped, not queued twice
    assert any("failed" in record.getMessage() for record in caplog.records)


async def test_attach_needs_a_handler(two_processes):
    a, _b = two_processes
    channel = await a.new_channel()
    with pytest.raises(TypeError, match="detach"):
        a.attach(channel, None)


# --- configuration ----------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["expiry", "group_expiry"])
def test_expiry_is_refused_not_ignored(option):
    with pytest.raises(TypeError, match=option):
        InMemoryFanoutLayer(**{option: 60})
    with pytest.raises(TypeError, match="nothing is stored in Redis|local to each process"):
        RedisFanoutLayer(hosts=["redis://127.0.0.1:6379/0"], **{option: 60})


def test_redis_layer_takes_exactly_one_host_and_prefixes_its_database():
    with pytest.raises(ValueError, match="InMemoryFanoutLayer"):
        RedisFanoutLayer(hosts=[])
    with pytest.raises(ValueError, match="Sentinel"):
        RedisFanoutLayer(hosts=["redis://a:6379/0", "redis://b:6379/0"])

    assert RedisFanoutLayer(hosts=["redis://h:6379/3"], prefix="chat").prefix == "chat.db3"
    assert RedisFanoutLayer(hosts=[{"address": "redis://h:6379"}], prefix="chat").prefix == "chat.db0"
    sentinel = RedisFanoutLayer(
        hosts=[{"master_name": "main", "sentinels": [("127.0.0.1", 26379)], "db": 5}], prefix="chat"
    )  # nothing connects until used
    assert sentinel.prefix == "chat.db5"
    assert sentinel.group_channel("room.1") == "chat.db5:g:room.1"


@pytest.mark.redis
async def test_layers_on_different_databases_do_not_hear_each_other(settings, prefix):
    url = urlsplit(settings.REDIS_URL)
    database = int(url.path.strip("/") or 0)
    other_url = urlunsplit(url._replace(path=f"/{(database + 1) % 16}"))
    here, there = redis_layer(settings.REDIS_URL, prefix), redis_layer(other_url, prefix)
    try:
        mine = await here.new_channel()
        await here.group_add("room.1", mine)
        await there.group_send("room.1", {"type": "chat.event", "seq": 1})
        await nothing_for(here, mine)
    finally:
        await close(here, there)


# --- losing Redis ---------------------------------------------------------------------------
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
            await asyncio.to_thread(layer.group_send_blocking, "room.1", {"type": "chat.event", "seq": 1})
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


@pytest.mark.redis
async def test_two_processes_reconnect_after_redis_restarts(tmp_path, prefix):
    redis = start_redis(tmp=tmp_path / "redis")
    a, b = redis_layer(redis.url, prefix), redis_layer(redis.url, prefix)
    try:
        a1, b1, b2 = await a.new_channel(), await b.new_channel(), await b.new_channel()
        for layer, channel in ((a, a1), (b, b1), (b, b2)):
            await layer.group_add("room.1", channel)
        b.attach(b2, _decline)
        pending = asyncio.ensure_future(b.receive(b1))
        await asyncio.sleep(0.1)

        redis.stop()
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(pending, WAIT)
        redis.start_and_wait()

        # b's channels from before are dead for good: their receives fail at once,
        # even those nobody was waiting on when Redis went (b2).
        for channel in (b1, b2):
            with pytest.raises(RedisConnectionError):
                await asyncio.wait_for(b.receive(channel), WAIT)
        # a had no receive pending: it learns of the loss all the same.
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(a.receive(a1), WAIT)

        # Reconnected sockets get new channels and rejoin their groups.
        a3, b3, b4 = await a.new_channel(), await b.new_channel(), await b.new_channel()
        for layer, channel in ((a, a3), (b, b3), (b, b4)):
            await layer.group_add("room.1", channel)
        await b.group_discard("room.1", b4)
        await a.group_send("room.1", {"type": "chat.event", "seq": 3})
        await a.send(b3, {"type": "chat.disconnect"})

        assert await receive(a, a3) == {"type": "chat.event", "seq": 3}
        assert [await receive(b, b3), await receive(b, b3)] == [{"type": "chat.event", "seq": 3}, {"type": "chat.disconnect"}]
        await nothing_for(b, b4)
        for channel in (b1, b2):
            b.detach(channel)  # what the consumers do on their way out
    finally:
        await close(a, b)
        redis.stop()


async def test_in_memory_without_redis(prefix):
    layer = InMemoryFanoutLayer(prefix=prefix)
    one, two = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room.1", one)
    await layer.group_add("room.1", two)
    await layer.group_discard("room.1", two)

    await layer.group_send("room.1", {"type": "chat.event", "seq": 1})
    await layer.send(two, {"type": "chat.disconnect"})

    assert await receive(layer, one) == {"type": "chat.event", "seq": 1}
    assert await receive(layer, two) == {"type": "chat.disconnect"}
    await nothing_for(layer, one)
    await layer.flush()


async def test_a_client_gone_during_a_direct_delivery_is_no_error(make_pair, caplog):
    """daphne raises autobahn's Disconnected, uvicorn its ClientDisconnected, when
    the client vanished as the frame is written: an ordinary disconnect."""
    from autobahn.exception import Disconnected
    from uvicorn.protocols.utils import ClientDisconnected

    a, b = make_pair()
    gone = [await a.new_channel() for _ in range(2)]
    for channel, error in zip(gone, (Disconnected("gone"), ClientDisconnected()), strict=True):

        async def vanish(message, error=error):
            raise error

        a.attach(channel, vanish)
        await a.group_add("room.gone", channel)
    broken = await a.new_channel()

    async def bug(message):
        raise ValueError("a real bug")

    a.attach(broken, bug)
    await a.group_add("room.gone", broken)
    with caplog.at_level(logging.DEBUG, logger="chat.realtime.layer"):
        await b.group_send("room.gone", {"type": "chat.event", "seq": 1})
        await asyncio.sleep(0.3)
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in errors] == [f"direct handler of {broken} failed; dropped a chat.event message"]
    assert sum("went away during a delivery" in record.getMessage() for record in caplog.records) == 2


# --- room events in seq order ----------------------------------------------------------
async def test_a_room_event_past_a_gap_waits_for_the_missing_one(make_pair):
    a, b = make_pair(capacity=50, reorder_window=5.0)
    channel = await a.new_channel()
    await a.group_add("room.1", channel)
    for seq in (1, 3, 4, 2, 5):  # two commits published in the other order
        await b.group_send("room.1", {"type": "chat.event", "seq": seq})
    assert [(await receive(a, channel))["seq"] for _ in range(5)] == [1, 2, 3, 4, 5]
    # Ephemeral frames (no seq) and other groups are never held.
    await a.group_add("room.2", channel)
    await b.group_send("room.1", {"type": "chat.event", "seq": 7})
    await b.group_send("room.1", {"type": "chat.ephemeral", "text": "typing"})
    await b.group_send("room.2", {"type": "chat.event", "seq": 40})
    assert [await receive(a, channel), await receive(a, channel)] == [
        {"type": "chat.ephemeral", "text": "typing"},
        {"type": "chat.event", "seq": 40},
    ]
    await nothing_for(a, channel)  # seq 7 waits for 6


async def test_a_gap_that_stays_open_is_handed_on_when_the_window_ends(make_pair):
    a, b = make_pair(capacity=50, reorder_window=0.2)
    channel = await a.new_channel()
    await a.group_add("room.1", channel)
    await b.group_send("room.1", {"type": "chat.event", "seq": 10})
    assert (await receive(a, channel))["seq"] == 10
    started = asyncio.get_running_loop().time()
    for seq in (13, 12):  # 11 never comes (the layer lost it)
        await b.group_send("room.1", {"type": "chat.event", "seq": seq})
    assert [(await receive(a, channel))["seq"] for _ in range(2)] == [12, 13]  # in order, after the window
    assert asyncio.get_running_loop().time() - started >= 0.15
    # Then the room goes on from 13 without waiting.
    await b.group_send("room.1", {"type": "chat.event", "seq": 14})
    assert (await receive(a, channel, timeout=0.15))["seq"] == 14


async def test_without_a_reorder_window_events_go_on_as_they_come(make_pair):
    a, b = make_pair(capacity=50, reorder_window=0)
    channel = await a.new_channel()
    await a.group_add("room.1", channel)
    for seq in (1, 3, 2):
        await b.group_send("room.1", {"type": "chat.event", "seq": seq})
    assert [(await receive(a, channel))["seq"] for _ in range(3)] == [1, 3, 2]


async def test_an_event_for_a_room_nobody_here_follows_leaves_no_order_behind(make_pair):
    a, b = make_pair(capacity=50, reorder_window=5.0)
    channel = await a.new_channel()
    await a.group_add("room.1", channel)
    await a.group_discard("room.1", channel)
    hub = a._hub()
    await hub.dispatch("room.1", {"type": "chat.event", "seq": 9})  # in flight when the last one left
    assert "room.1" not in hub.order
    # Back in the room later: its events go on at once, nothing is taken for a gap.
    await a.group_add("room.1", channel)
    await b.group_send("room.1", {"type": "chat.event", "seq": 20})
    assert (await receive(a, channel, timeout=1.0))["seq"] == 20
