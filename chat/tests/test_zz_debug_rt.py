import asyncio, json
import pytest
from chat.tests.test_slow_reader import daphne, open_ws  # noqa
from chat.tests.factories import group_room

@pytest.mark.django_db(transaction=True)
async def test_debug(daphne, alice, bob):
    room = await asyncio.to_thread(group_room, alice, bob, name="Slow")
    s = await open_ws(daphne, alice)
    await s.send(json.dumps({"type": "message.send", "ref": 1, "room": str(room.pk), "content": "hi", "client_msg_id": "x1"}))
    await s.send(json.dumps({"type": "ping", "ref": 2}))
    try:
        for _ in range(5):
            print("GOT", (await asyncio.wait_for(s.recv(), 5))[:300])
    except Exception as e:
        print("EXC", repr(e))
    print(daphne.describe())
