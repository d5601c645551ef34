"""The python-socketio peer of the benchmark: the fastest Python server measured
for the performance issue, in the same shape as the bare Channels consumer
(bench/bare/): on connect the socket joins the room named in its auth (or the
``room`` query parameter), every ``send`` event is emitted to the whole room as
``message`` (the sender included), nothing is stored or checked. Rooms go
through ``AsyncRedisManager``, so every emit is a Redis publish received back
by the process, as with several processes. Run by bench/run.py on uvicorn:

    REDIS_URL=redis://127.0.0.1:6379/7 uvicorn bench.sio.server:app --lifespan off
"""

import os
from urllib.parse import parse_qs

import socketio

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/7")

sio = socketio.AsyncServer(
    async_mode="asgi",
    client_manager=socketio.AsyncRedisManager(REDIS_URL, channel="siobench"),
    logger=False,
    engineio_logger=False,
)
rooms: dict[str, str] = {}  # sid -> its room


@sio.event
async def connect(sid, environ, auth):
    room = (auth or {}).get("room") if isinstance(auth, dict) else None
    if not room:
        room = (parse_qs(environ.get("QUERY_STRING", "")).get("room") or [None])[0]
    if not room:
        return False  # refused: a socket of this server always belongs to a room
    rooms[sid] = room
    await sio.enter_room(sid, room)
    return True


@sio.event
async def disconnect(sid, reason=None):
    rooms.pop(sid, None)


@sio.on("send")
async def send(sid, payload):
    room = rooms.get(sid)
    if room is not None:
        await sio.emit("message", payload, room=room)


app = socketio.ASGIApp(sio, socketio_path="socket.io")
