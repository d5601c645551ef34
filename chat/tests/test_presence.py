"""Presence in Redis under a burst: hundreds of sockets closing at once (a load
balancer restart) are all cleaned up, whatever the size of the pool."""

import asyncio
import logging
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
        assert max(opened) == len(sockets)
        closed = await asyncio.gather(*(presence.socket_closed(s) for s in sockets))
        return min(closed), await small_pool.live(user_id, 0)

    with caplog.at_level(logging.INFO):
        remaining, live = asyncio.run(burst())
    assert (remaining, live) == (0, 0)  # every socket gone: "offline" is announced, nothing counts toward the cap
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
