"""The optional ASGI server: uvicorn (uvloop, websockets) serves the same
protocol, and shares Redis and PostgreSQL with daphne processes, so a
deployment can mix or switch them. docs/deploy.md documents it; daphne stays
the supported default."""

import asyncio
import uuid

import pytest
from websockets.exceptions import InvalidStatus

from chat.tests import live
from chat.tests.factories import group_room, send
from chat.tests.test_live import jwt, open_socket, rest_send

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def mixed(django_db_setup, tmp_path_factory):
    """One uvicorn and one daphne process on the test's Redis and database."""
    from django.conf import settings
    from django.db import connection

    live.require("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    live.require("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
    tmp = tmp_path_factory.mktemp("uvicorn")
    env = live.server_env(database=live.database_url(connection.settings_dict), redis=settings.REDIS_URL, tmp=tmp)
    uvicorn = live.start_uvicorn("uvicorn", env=env, tmp=tmp)
    try:
        (daphne,) = live.start_daphnes(["daphne"], env=env, tmp=tmp)
    except BaseException:
        uvicorn.stop()
        raise
    yield uvicorn, daphne
    daphne.stop()
    uvicorn.stop()


def created(frame, content):
    return frame["type"] == "message.created" and frame["message"]["content"] == content


async def test_uvicorn_serves_rest_and_websocket_with_daphne_beside_it(mixed, alice, bob):
    uvicorn, daphne = mixed
    room = await asyncio.to_thread(group_room, alice, bob, name="Mixed")
    on_uvicorn = await open_socket(uvicorn.ws_url, bob, "bob@uvicorn")
    on_daphne = await open_socket(daphne.ws_url, bob, "bob@daphne")
    alice_socket = await open_socket(uvicorn.ws_url, alice, "alice@uvicorn")
    try:
        status, body = await rest_send(uvicorn.url, await jwt(alice), str(room.pk), "over REST on uvicorn")
        assert status == 201, body
        for socket in (on_uvicorn, on_daphne):
            await socket.until(lambda f: created(f, "over REST on uvicorn"))

        frame = {"type": "message.send", "room": str(room.pk), "content": "over the socket", "client_msg_id": uuid.uuid4().hex}
        first = await alice_socket.request({**frame, "ref": "one"})
        again = await alice_socket.request({**frame, "ref": "two"})
        assert first["type"] == "ack" and first["result"]["created"] is True, first
        assert again["result"] == {**first["result"], "created": False}  # a retry answers with the original
        seen = await on_daphne.until(lambda f: created(f, "over the socket"))
        assert [f["seq"] for f in seen if f["type"] == "message.created"] == [body["seq"] + 1]
        assert not [f for f in await on_daphne.quiet_for(0.5) if f["type"] == "message.created"]  # one message

        bad = await alice_socket.request({"type": "message.send", "room": str(room.pk), "content": "", "ref": "bad"})
        assert bad["type"] == "error" and bad["code"] == "content_required", bad
    finally:
        for socket in (on_uvicorn, on_daphne, alice_socket):
            await socket.close()


async def test_uvicorn_refuses_a_handshake_without_a_ticket(mixed):
    uvicorn, _daphne = mixed
    with pytest.raises(InvalidStatus) as refused:
        await live.ws_connect(f"{uvicorn.ws_url}/ws/chat/?ticket=not-a-ticket", proxy=None, open_timeout=10)
    assert refused.value.response.status_code == 403


async def test_resume_on_uvicorn_after_missing_events(mixed, alice, bob):
    uvicorn, daphne = mixed
    room = await asyncio.to_thread(group_room, alice, bob, name="Resume")
    first = await open_socket(daphne.ws_url, bob, "bob@daphne")
    last_seen = first.room_seq(str(room.pk))
    await first.close()
    for number in range(3):
        await asyncio.to_thread(send, room, alice, f"missed {number}")

    again = await open_socket(uvicorn.ws_url, bob, "bob@uvicorn", sync=True)
    try:
        answer = await again.request({"type": "sync", "rooms": {str(room.pk): last_seen}, "ref": "s"})
        contents = [f["message"]["content"] for f in again.pending if f["type"] == "message.created"]
        assert contents == ["missed 0", "missed 1", "missed 2"]
        assert answer["result"]["rooms"][str(room.pk)] == last_seen + 3
    finally:
        await again.close()
