"""Presence in Redis under a burst: hundreds of sockets closing at once (a load
balancer restart) are all cleaned up, whatever the size of the pool."""

import asyncio
import logging
import time
import uuid

import pytest

from chat import presence

pytestmark = [pytest.mark.redis]


class Socket:
    """What presence needs of a consumer: a user and a channel name."""

    def __init__(self, user_id: str):
        self.user_id = user_id
        self.channel_name = f"test.{uuid.uuid4().hex}"


@pytest.fixture
def small_pool(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (set REDIS_URL)")
    settings.CHAT_PRESENCE_MAX_CONNECTIONS = 4
    presence.reset_backend()
    yield presence.backend()
    presence.reset_backend()


def test_hundreds_of_sockets_closing_at_once_are_all_cleaned_up(small_pool, caplog):
    user_id = str(uuid.uuid4())
    sockets = [Socket(user_id) for _ in range(300)]

    async def burst():
        opened = await asyncio.gather(*(presence.socket_opened(s) for s in sockets))
        # Exactly one of them brought the user online (announces it).
        assert opened.count(True) == 1 and await small_pool.live(user_id, 0) == len(sockets)
        closed = await asyncio.gather(*(presence.socket_closed(s) for s in sockets))
        return min(closed), await small_pool.live(user_id, 0)

    with caplog.at_level(logging.INFO):
        remaining, live = asyncio.run(burst())
    assert (remaining, live) == (0, 0)  # every socket gone: "offline" is announced, nothing counts toward the cap
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_closed_socket_lingers_for_the_status_but_not_for_the_cap(kind, settings):
    if kind == "redis" and not settings.REDIS_URL:
        pytest.skip("needs Redis (set REDIS_URL)")
    if kind == "memory":
        settings.REDIS_URL = ""
    settings.CHAT_PRESENCE_GRACE_SECONDS = 30
    presence.reset_backend()
    user_id = str(uuid.uuid4())
    first, second = Socket(user_id), Socket(user_id)

    async def run():
        assert await presence.socket_opened(first) is True  # online: announce it
        assert await presence.socket_opened(second) is False  # already present
        assert await presence.socket_closed(first) == 1
        assert await presence.socket_closed(second) == 0  # no open socket left...
        assert await presence.live_sockets(user_id) == 0  # ...none counts against the cap
        assert await presence.statuses([user_id]) == {user_id: "online"}  # but the status shown holds
        assert presence.statuses_blocking([user_id]) == {user_id: "online"}
        assert presence.online_blocking([user_id]) == set()  # who is connected now: nobody
        # The refresher, which looked before the close, does not bring a closed socket back.
        await presence.backend().refresh([(user_id, first.channel_name)], time.time() + 60)
        assert await presence.live_sockets(user_id) == 0
        back = Socket(user_id)
        assert await presence.socket_opened(back) is False  # back within the grace: nothing to announce
        await presence.backend().refresh([(user_id, back.channel_name)], time.time() + 60)
        assert await presence.live_sockets(user_id) == 1  # an open one is refreshed
        await presence.socket_closed(back)
        # Once the grace is over the lingering entries are gone.
        later = time.time() + 31
        assert await presence.backend().live(user_id, later, lingering=True) == 0
        assert presence.backend().statuses_now([user_id], later, lingering=True) == {user_id: "offline"}

    try:
        asyncio.run(run())
    finally:
        presence.reset_backend()


def test_sockets_of_one_user_closing_at_once_make_one_offline_check(settings):
    settings.REDIS_URL = ""
    settings.CHAT_PRESENCE_GRACE_SECONDS = 0
    presence.reset_backend()
    user_id = str(uuid.uuid4())
    announced = []

    async def announce(status):
        announced.append(status)

    async def run():
        sockets = [Socket(user_id) for _ in range(5)]
        for socket in sockets:
            await presence.socket_opened(socket)
        for socket in sockets:
            await presence.socket_closed(socket)
            presence.when_gone(user_id, announce)
        await asyncio.sleep(0.1)
        assert announced == ["offline"] and user_id not in presence._offline_checks

    try:
        asyncio.run(run())
    finally:
        presence.reset_backend()
