"""A client that stops reading is bounded (docs/realtime.md, "Slow clients").

Unit tests of the per-socket send buffer (chat/realtime/send_buffer.py) with a fake
ASGI send, then a real daphne with a raw client that never reads while 2,000
large messages go to its room: the server closes it with 4008, the other
members get everything and the server's memory stays bounded.
"""

import asyncio
import base64
import functools
import json
import os
import socket
import struct
from pathlib import Path

import pytest

from accounts import tickets
from chat.events import wire
from chat.realtime import send_buffer as send_buffer_module
from chat.realtime.send_buffer import (
    SendBuffer,
    _TransportGate,
    daphne_transport,
    watch_daphne_transport,
)
from chat.tests import live
from chat.tests.factories import group_room


class FakeClient:
    """An ASGI send that records messages and blocks while ``reading`` is clear."""

    def __init__(self):
        self.sent: list[dict] = []
        self.reading = asyncio.Event()
        self.reading.set()

    async def send(self, message):
        await self.reading.wait()
        self.sent.append(message)

    @property
    def texts(self):
        return [m["text"] for m in self.sent if m["type"] == "websocket.send"]

    @property
    def closes(self):
        return [m for m in self.sent if m["type"] == "websocket.close"]


async def settle(rounds: int = 20):
    for _ in range(rounds):
        await asyncio.sleep(0)


def make(client, *, max_frames=10, max_bytes=1000, overflows=None):
    box = SendBuffer(
        client.send,
        max_frames=max_frames,
        max_bytes=max_bytes,
        on_overflow=(lambda frames, size: overflows.append((frames, size))) if overflows is not None else None,
    )
    box.start()
    return box


async def test_frames_go_out_in_order_then_the_close():
    client = FakeClient()
    box = make(client)
    for n in range(5):
        assert box.put(f"f{n}")
    box.put_close(4001)
    assert not box.put("after the close")
    await settle()
    assert client.texts == [f"f{n}" for n in range(5)]
    assert client.closes == [{"type": "websocket.close", "code": 4001}]
    await box.stop()


async def test_put_never_waits_and_a_full_buffer_closes_with_4008():
    client = FakeClient()
    client.reading.clear()  # the client stops reading: send blocks
    overflows = []
    box = make(client, max_frames=10, overflows=overflows)
    assert box.put("f0")
    await settle()  # the writer took it and is blocked in send
    results = [box.put(f"f{n}") for n in range(1, 12)]
    # ten are queued, the next one overflows
    assert results[:10] == [True] * 10 and results[10] is False
    assert overflows == [(11, sum(len(f"f{n}") for n in range(1, 12)))]
    assert box.closed and box.frames == 0 and box.bytes == 0  # the backlog is dropped at once
    assert not box.put("later")
    client.reading.set()
    await settle()
    assert client.closes == [{"type": "websocket.close", "code": wire.CLOSE_TOO_SLOW, "reason": "too slow"}]
    assert client.texts == []  # nothing queued was written after the overflow
    await box.stop()


async def test_the_byte_limit_counts_too():
    client = FakeClient()
    client.reading.clear()
    overflows = []
    box = make(client, max_frames=1000, max_bytes=100, overflows=overflows)
    box.put("x" * 10)  # taken by the writer
    await settle()
    assert box.put("x" * 60)
    assert box.put("x" * 40)
    assert not box.put("x")
    assert overflows == [(3, 101)]
    await box.stop()


async def test_paused_transport_holds_frames_back_until_resumed():
    client = FakeClient()
    box = make(client)
    box.pause()
    box.put("a")
    box.put("b")
    await settle()
    assert client.texts == [] and box.frames == 2
    box.resume()
    await settle()
    assert client.texts == ["a", "b"] and box.frames == 0
    await box.stop()


async def test_paced_puts_wait_below_half_the_limit_and_never_overflow():
    client = FakeClient()
    client.reading.clear()
    overflows = []
    box = make(client, max_frames=10, overflows=overflows)

    async def replay():
        for n in range(100):
            assert await box.put_paced(f"r{n}")

    task = asyncio.ensure_future(replay())
    await settle()
    assert box.frames <= 5 and not task.done() and overflows == []
    client.reading.set()
    await asyncio.wait_for(task, 5)
    await settle()
    assert client.texts == [f"r{n}" for n in range(100)]
    assert overflows == [] and not box.closed
    await box.stop()


async def test_paced_put_gives_up_when_the_socket_closes():
    client = FakeClient()
    client.reading.clear()
    box = make(client, max_frames=4)
    for n in range(3):
        await box.put_paced(f"r{n}")
    waiting = asyncio.ensure_future(box.put_paced("blocked"))
    await settle()
    assert not waiting.done()
    for n in range(10):
        box.put(f"live{n}")  # live fan-out overflows the buffer
    assert await asyncio.wait_for(waiting, 2) is False
    await box.stop()


async def test_a_failing_send_ends_the_writer_quietly():
    async def gone(message):
        raise OSError("client gone")

    box = SendBuffer(gone, max_frames=10, max_bytes=1000)
    box.start()
    box.put("x")
    await settle()
    assert box.closed and not box.put("y")
    await box.stop()


async def test_stop_cancels_a_writer_blocked_in_send():
    client = FakeClient()
    client.reading.clear()
    box = make(client)
    box.put("x")
    await settle()
    await asyncio.wait_for(box.stop(), 2)
    assert box.closed


async def test_close_waits_at_most_close_timeout(monkeypatch):
    monkeypatch.setattr(send_buffer_module, "CLOSE_TIMEOUT", 0.05)
    client = FakeClient()
    client.reading.clear()  # never reads again (uvicorn: the close frame cannot go)
    box = make(client, max_frames=1)
    for n in range(5):
        box.put(str(n))
    await asyncio.sleep(0.2)
    assert box._closer.done()
    await box.stop()


def test_limits_come_from_settings(settings):
    settings.CHAT_WS_MAX_BUFFERED_FRAMES = 7
    settings.CHAT_WS_MAX_BUFFERED_BYTES = 1234
    assert send_buffer_module.limits() == (7, 1234)



# --- daphne's transport ---------------------------------------------------------------
class FakeTransport:
    """The part of Twisted's IConsumer the gate uses."""

    def __init__(self, producer=None):
        self.producer = producer

    def registerProducer(self, producer, streaming):
        if self.producer is not None:
            raise RuntimeError("a producer is registered already")
        assert streaming is True
        self.producer = producer

    def unregisterProducer(self):
        self.producer = None


class Recorder:
    def __init__(self):
        self.calls = []

    def pauseProducing(self):
        self.calls.append("pause")

    def resumeProducing(self):
        self.calls.append("resume")

    def stopProducing(self):
        self.calls.append("stop")


def test_not_daphne_means_no_gate():
    async def send(message):
        pass

    assert daphne_transport(send) is None
    assert daphne_transport(functools.partial(send)) is None
    assert not watch_daphne_transport(functools.partial(lambda protocol, message: None, object()), None)


def test_gate_pauses_the_writer_and_keeps_the_previous_producer_informed():
    from daphne.ws_protocol import WebSocketProtocol  # no reactor needed for this

    previous = Recorder()
    protocol = WebSocketProtocol()
    protocol.transport = FakeTransport(previous)

    async def handle_reply(protocol, message):
        pass

    box = SendBuffer(FakeClient.send, max_frames=10, max_bytes=1000)
    assert watch_daphne_transport(functools.partial(handle_reply, protocol), box)
    gate = protocol.transport.producer
    assert isinstance(gate, _TransportGate) and gate.previous is previous
    gate.pauseProducing()
    assert not box.writable
    gate.resumeProducing()
    assert box.writable
    gate.stopProducing()
    assert previous.calls == ["pause", "resume", "stop"]


# --- live: a real daphne, a client that never reads ------------------------------------------
MESSAGES = 2000
CONTENT = "abcdefghij " * 1500  # ~16 KB a frame: 2,000 of them would be ~33 MB held for one socket
RSS_BUDGET = 20 * 1024 * 1024
SEND_WINDOW = 32  # message.send frames in flight at once
DEADLINE = 240.0  # seconds for the whole exchange


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request, django_db_setup, tmp_path_factory):
    """One daphne (or uvicorn) on 127.0.0.1 with the test's Redis and database; no rate limit on sends."""
    from django.conf import settings
    from django.db import connection

    live.require("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    live.require("Redis", bool(settings.REDIS_URL), "set REDIS_URL")
    live.require("/proc", Path("/proc/self/status").exists(), "Linux")
    tmp = tmp_path_factory.mktemp("slow")
    env = live.server_env(
        database=live.database_url(connection.settings_dict),
        redis=settings.REDIS_URL,
        tmp=tmp,
        CHAT_RATE_LIMITS_ENABLED="0",
        CHAT_MAX_MESSAGE_LENGTH="20000",
    )
    if request.param == "uvicorn":
        server = live.start_uvicorn("uvicorn-slow", env=env, tmp=tmp)
    else:
        (server,) = live.start_daphnes(["daphne-slow"], env=env, tmp=tmp)
    try:
        yield server
    finally:
        server.stop()


class RawClient:
    """A WebSocket client on a plain socket: it completes the handshake, then
    reads nothing until asked (a small receive buffer, so the kernel holds little)."""

    def __init__(self, port: int, path: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(live.RECEIVE_TIMEOUT)
        self.sock.connect((live.HOST, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {live.HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            head += self.sock.recv(1)  # byte by byte: not a byte of the frames after it
        assert head.startswith(b"HTTP/1.1 101"), head[:200]

    def read_all(self, timeout: float) -> tuple[bytes, str]:
        """Everything the server sent, until it dropped the connection: ``(data, how it ended)``."""
        self.sock.settimeout(timeout)
        chunks = []
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return b"".join(chunks), "closed"
                chunks.append(chunk)
        except ConnectionResetError:
            return b"".join(chunks), "reset"
        except TimeoutError:
            return b"".join(chunks), "still open"

    def close(self):
        self.sock.close()


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of the unmasked frames in ``data`` (a cut-off last one is left out)."""
    frames, at = [], 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = struct.unpack("!H", data[at : at + 2])[0], at + 2
        elif length == 127:
            length, at = struct.unpack("!Q", data[at : at + 8])[0], at + 8
        if at + length > len(data):
            break
        frames.append((opcode, data[at : at + length]))
        at += length
    return frames


async def open_ws(server, user):
    ticket = await asyncio.to_thread(tickets.issue, user)
    connection = await live.ws_connect(
        f"{server.ws_url}/ws/chat/?ticket={ticket}", proxy=None, open_timeout=live.RECEIVE_TIMEOUT, max_size=2**20
    )
    hello = json.loads(await asyncio.wait_for(connection.recv(), live.RECEIVE_TIMEOUT))
    assert hello["type"] == "hello", hello
    return connection


async def read_created(connection, room_id: str, want: int, into: list, acks: asyncio.Queue | None = None):
    """Read frames, keeping the room's message.created events, until ``want`` of
    them (and, with ``acks``, ``want`` answers to the sender's frames)."""
    answers = 0
    while len(into) < want or (acks is not None and answers < want):
        frame = json.loads(await connection.recv())
        if frame["type"] == "message.created" and frame["room"] == room_id:
            into.append((frame["seq"], frame["message"]["content"][:12]))
        elif frame["type"] in ("ack", "error") and acks is not None:
            answers += 1
            acks.put_nowait(frame)


async def send_messages(connection, room_id: str, count: int, acks: asyncio.Queue, prefix: str):
    """``count`` message.send frames, at most SEND_WINDOW unanswered at a time; every one acked."""
    window = asyncio.Semaphore(SEND_WINDOW)
    answered, errors = 0, []

    async def collect():
        nonlocal answered
        while answered < count:
            frame = await acks.get()
            if frame["type"] != "ack":
                errors.append(frame)
            answered += 1
            window.release()

    collector = asyncio.ensure_future(collect())
    try:
        for number in range(count):
            await window.acquire()
            await connection.send(
                json.dumps(
                    {
                        "type": "message.send",
                        "ref": number,
                        "room": room_id,
                        "content": f"{prefix}{number:05d} {CONTENT}",
                        "client_msg_id": f"{prefix}{number}",
                    }
                )
            )
        await collector
    finally:
        collector.cancel()
    assert not errors, errors[:3]


async def exchange(server, room_id, sender, reader, count, prefix):
    """``count`` messages from ``sender``; what ``reader`` received of them, in order."""
    acks: asyncio.Queue = asyncio.Queue()
    own, received = [], []
    sender_reads = asyncio.ensure_future(read_created(sender, room_id, count, own, acks))
    reader_reads = asyncio.ensure_future(read_created(reader, room_id, count, received))
    try:
        await send_messages(sender, room_id, count, acks, prefix)
        await asyncio.wait_for(asyncio.gather(sender_reads, reader_reads), 60)
    finally:
        sender_reads.cancel()
        reader_reads.cancel()
    return received


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_a_client_that_never_reads_is_closed_with_4008_and_memory_stays_bounded(server, alice, bob, carol):
    daphne = server  # or uvicorn
    room = await asyncio.to_thread(group_room, alice, bob, carol, name="Slow")
    room_id = str(room.pk)
    pid = daphne.process.pid
    sender = await open_ws(daphne, alice)
    reader = await open_ws(daphne, bob)
    non_reader = None
    try:
        async with asyncio.timeout(DEADLINE):
            # Warm up (database pool, threads, allocator) before the baseline.
            warm = await exchange(daphne, room_id, sender, reader, 100, "warm")
            assert len(warm) == 100
            before = rss_bytes(pid)

            ticket = await asyncio.to_thread(tickets.issue, carol)
            non_reader = await asyncio.to_thread(RawClient, daphne.port, f"/ws/chat/?ticket={ticket}")
            received = await exchange(daphne, room_id, sender, reader, MESSAGES, "slow")
            await asyncio.sleep(2)  # the close handshake timeout (1 s) has passed
            after = rss_bytes(pid)

            # The reading member got every message, once, in seq order.
            assert [content[:9] for _seq, content in received] == [f"slow{n:05d}" for n in range(MESSAGES)]
            seqs = [seq for seq, _content in received]
            assert seqs == list(range(seqs[0], seqs[0] + MESSAGES))

            # The server closed the non-reader with 4008 (its log says so) and dropped it.
            # daphne drops it 1 s after the close; uvicorn sends the close frame once
            # the client reads again, and closes 10 s after it.
            data, ended = await asyncio.to_thread(non_reader.read_all, 15.0)
            log = daphne.log_path.read_text(errors="replace")
            closing = [line for line in log.splitlines() if "too slow" in line and f"closing with {wire.CLOSE_TOO_SLOW}" in line]
            assert len(closing) == 1, daphne.describe()
            assert str(carol.pk) in closing[0]
            frames = server_frames(data)
            texts = [json.loads(payload) for opcode, payload in frames if opcode == 0x1]
            assert texts and texts[0]["type"] == "hello"
            got = [f["message"]["content"][:9] for f in texts if f["type"] == "message.created"]
            # A prefix, in order, of what came after its hello (a message committed
            # while it connected is counted in the hello's seq, not sent again).
            hello_seq = next(r["seq"] for r in texts[0]["rooms"] if r["id"] == room_id)
            after_hello = [content[:9] for seq, content in received if seq > hello_seq]
            assert got == after_hello[: len(got)] and len(got) < MESSAGES
            closes = [payload for opcode, payload in frames if opcode == 0x8]
            assert ended in ("closed", "reset") or closes, f"{ended}, no close frame"
            if closes:  # daphne: only if it reached us before the connection was dropped
                code = struct.unpack("!H", closes[0][:2])[0]
                # uvicorn's close waits for the backlog to drain; its keepalive's does
                # not: a client that reads nothing answers no ping either, and when
                # the run is slow (a loaded machine) the ping's 1011 (keepalive ping
                # timeout, 40 s after connecting) goes out first. Either way the
                # server dropped it; a client reconnects and syncs after both.
                allowed = {wire.CLOSE_TOO_SLOW, 1011} if isinstance(daphne, live.Uvicorn) else {wire.CLOSE_TOO_SLOW}
                assert code in allowed, code

            growth = after - before
            print(f"{daphne.name} RSS: {before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after, growth {growth / 2**20:.1f} MiB")
            assert growth < RSS_BUDGET, f"RSS grew by {growth / 2**20:.1f} MiB"
    finally:
        if non_reader is not None:
            non_reader.close()
        await sender.close()
        await reader.close()
    assert daphne.alive, daphne.describe()
