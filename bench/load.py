"""Load generator: chatsite's real protocol, the bare Channels consumer's, or
python-socketio's (Engine.IO 4 / Socket.IO 5, spoken by hand: see ``Client``).

Fan-out ramp (``ramp``): R rooms of M listeners. Every step lasts ``step``
seconds at a rate of messages per second per room, sent by members in turn;
each message carries its send time and step, and every *other* member's
``message.created`` is a delivery. After a step (plus a grace period for
stragglers) the step's figures are: offered and delivered deliveries per
second, lost, p50/p95/p99/max latency and the server's CPU. The rate grows
×1.5 while nothing is lost and p99 ≤ 250 ms; the result is the last step that held.

Idle memory (``idle``): N authenticated sockets that do nothing; the server's
resident memory before and after, per socket.

This module speaks WebSocket with the ``websockets`` library; bench/run.py
prepares the data and starts the servers. Protocols: ``chatsite``, ``bare``
(bench/bare/) and ``sio`` (bench/sio/).
"""

import asyncio
import json
import os
import random
import statistics
import time
import urllib.request
import uuid

import websockets

LATENCY_LIMIT_MS = 250.0
GROWTH = 1.5
MARK = "bench:"  # content prefix: bench:<step>:<send time ns>


PRESENCE_GRACE_SECONDS = 10  # chatsite's CHAT_PRESENCE_GRACE_SECONDS (bench/run.py leaves the default)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# Engine.IO 4 packet types (first character) and Socket.IO 5 types (second, in a message).
SIO_PING, SIO_PONG = "2", "3"
SIO_EVENT = "42"  # message + event, default namespace


async def sio_handshake(ws, auth: dict, timeout: float = 30) -> str:
    """Engine.IO open, then the Socket.IO connect of the default namespace with
    ``auth``; the session id the server gave. Raises ``ConnectionError`` if refused."""
    opened = await asyncio.wait_for(ws.recv(), timeout)
    if not opened.startswith("0{"):
        raise ConnectionError(f"no Engine.IO open packet: {opened[:80]}")
    await ws.send("40" + json.dumps(auth))
    while True:
        answer = await asyncio.wait_for(ws.recv(), timeout)
        if answer == SIO_PING:  # a ping may come first on a slow connect
            await ws.send(SIO_PONG)
            continue
        if answer.startswith("40"):
            return json.loads(answer[2:])["sid"]
        raise ConnectionError(f"namespace connect refused: {answer[:80]}")


class Step:
    def __init__(self, number: int, rate: float, rooms: int, members: int):
        self.number = number
        self.rate = rate  # messages per second per room
        self.rooms = rooms
        self.members = members
        self.sent = 0
        self.send_errors = 0
        self.latencies: list[float] = []

    def figures(self, seconds: float, cpu: float) -> dict:
        expected = self.sent * (self.members - 1)
        delivered = len(self.latencies)
        return {
            "step": self.number,
            "rate_per_room": round(self.rate, 3),
            "offered_per_s": round(self.rate * self.rooms * (self.members - 1), 1),
            "messages_sent": self.sent,
            "send_errors": self.send_errors,
            "delivered_per_s": round(delivered / seconds, 1),
            "expected": expected,
            "delivered": delivered,
            "lost": max(0, expected - delivered),
            "p50_ms": round(percentile(self.latencies, 50), 2),
            "p95_ms": round(percentile(self.latencies, 95), 2),
            "p99_ms": round(percentile(self.latencies, 99), 2),
            "max_ms": round(max(self.latencies, default=0.0), 2),
            "server_cpu": round(cpu, 3),
        }


class Client:
    """One socket of one member.

    For the python-socketio peer (``sio``) it speaks Engine.IO 4 / Socket.IO 5
    over one WebSocket, the least a client must: the server opens with
    ``0{…"pingInterval"…}``, the client joins the default namespace with
    ``40{"room": …}`` and gets ``40{"sid": …}``; events are ``42["name", payload]``;
    the server's ping ``2`` is answered with ``3`` (or the server drops the
    socket after its ping timeout). python-socketio's own AsyncClient would cost
    the load generator several times the CPU per socket.
    """

    def __init__(self, bench: "Bench", member: dict, room: str):
        self.bench = bench
        self.member = member
        self.room = room
        self.ws = None
        self.reader = None

    async def connect(self):
        self.ws = await websockets.connect(
            await self.bench.url_for(self.member, self.room),
            max_size=2**20,
            open_timeout=30,
            ping_interval=None,
            compression=None,
        )
        if self.bench.protocol == "chatsite":
            hello = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            assert hello["type"] == "hello", hello
        elif self.bench.protocol == "sio":
            await sio_handshake(self.ws, {"room": self.room})
        self.reader = asyncio.ensure_future(self.read())

    async def read(self):
        bench = self.bench
        mine = self.member["id"]
        sio = bench.protocol == "sio"
        try:
            async for text in self.ws:
                now = time.time_ns()
                start = text.find(MARK)
                if start < 0:
                    if sio and text == SIO_PING:
                        await self.ws.send(SIO_PONG)
                    continue
                if bench.protocol == "chatsite" and not text.startswith('{"type":"message.created"'):
                    continue  # acks, hello, presence…
                end = text.find('"', start)
                _mark, step, sent_ns, sender = text[start:end if end > 0 else None].split(":")[:4]
                if sender == mine:
                    continue  # our own message coming back: not a delivery
                step_record = bench.steps.get(int(step))
                if step_record is not None:
                    step_record.latencies.append((now - int(sent_ns)) / 1e6)
        except websockets.ConnectionClosed:
            pass

    async def send(self, step: int):
        body = f"{MARK}{step}:{time.time_ns()}:{self.member['id']}"
        if self.bench.protocol == "chatsite":
            frame = {"type": "message.send", "room": self.room, "content": body, "client_msg_id": uuid.uuid4().hex}
            await self.ws.send(json.dumps(frame))
        elif self.bench.protocol == "sio":
            await self.ws.send(SIO_EVENT + json.dumps(["send", body]))
        else:
            await self.ws.send(body)

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


class Bench:
    def __init__(self, *, base: str, protocol: str, data: dict, server_pid: int,
                 presence_grace: float | None = PRESENCE_GRACE_SECONDS):
        self.base = base  # http://127.0.0.1:PORT
        self.protocol = protocol  # "chatsite", "bare" or "sio"
        self.data = data
        self.server_pid = server_pid
        self.steps: dict[int, Step] = {}
        # The server's CHAT_PRESENCE_GRACE_SECONDS (None: nothing waits, for tests).
        self.presence_grace = presence_grace

    async def url_for(self, member: dict, room: str) -> str:
        ws_base = self.base.replace("http://", "ws://")
        if self.protocol == "bare":
            return f"{ws_base}/ws/bare/{room}/"
        if self.protocol == "sio":
            return f"{ws_base}/socket.io/?EIO=4&transport=websocket"
        ticket = await asyncio.to_thread(self._ticket, member["access"])
        return f"{ws_base}/ws/chat/?ticket={ticket}"

    def _ticket(self, access: str) -> str:
        request = urllib.request.Request(
            f"{self.base}/api/auth/ws-ticket/", data=b"{}", method="POST",
            headers={"Authorization": f"Bearer {access}", "Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read())["ticket"]

    async def open_clients(self, rooms: list[dict], concurrency: int = 20) -> list[list[Client]]:
        clients = [[Client(self, member, room["id"]) for member in room["members"]] for room in rooms]
        flat = [client for room in clients for client in room]
        gate = asyncio.Semaphore(concurrency)

        async def one(client):
            async with gate:
                await client.connect()

        await asyncio.gather(*(one(client) for client in flat))
        return clients

    async def ramp(self, *, rooms: list[dict], start_rate: float, step_seconds: float, grace: float,
                   max_steps: int, deadline: float, before_steps=None, after_steps=None) -> dict:
        """``before_steps()`` is called once the sockets are open, just before the
        first step, and ``after_steps()`` after the last, before they close (a
        profiler sees the steps alone)."""
        members = len(rooms[0]["members"])
        clients = await self.open_clients(rooms)
        await asyncio.sleep(1.0)
        results, held = [], None
        rate = start_rate
        try:
            if before_steps is not None:
                before_steps()
            for number in range(1, max_steps + 1):
                if time.monotonic() + step_seconds + grace > deadline:
                    break
                step = self.steps[number] = Step(number, rate, len(rooms), members)
                cpu_before, started = cpu_seconds(self.server_pid), time.monotonic()
                own_before = time.process_time()
                await asyncio.gather(*(self._drive(room_clients, step, step_seconds) for room_clients in clients))
                elapsed = time.monotonic() - started
                cpu = (cpu_seconds(self.server_pid) - cpu_before) / elapsed
                own = (time.process_time() - own_before) / elapsed
                await asyncio.sleep(grace)
                figures = step.figures(elapsed, cpu)
                # The load generator's own CPU: near 1.0 means it, not the server, is the limit.
                figures["load_cpu"] = round(own, 3)
                results.append(figures)
                print(f"  step {number}: {json.dumps(figures)}", flush=True)
                ok = figures["lost"] == 0 and figures["send_errors"] == 0 and figures["p99_ms"] <= LATENCY_LIMIT_MS
                if not ok:
                    break
                held = figures
                rate *= GROWTH
        finally:
            if after_steps is not None:
                after_steps()
            await asyncio.gather(*(c.close() for room in clients for c in room), return_exceptions=True)
            await self.settle()
        return {"steps": results, "held": held}

    async def settle(self) -> None:
        """After chatsite's sockets close, wait out the presence grace period
        (chat/presence.py): each person's "offline" is decided then, and those
        checks belong to the part that closed them, not to the next one's first step."""
        if self.protocol == "chatsite" and self.presence_grace is not None:
            await asyncio.sleep(self.presence_grace + 2)

    async def _drive(self, room_clients: list[Client], step: Step, seconds: float):
        """Send ``step.rate`` messages a second into one room for ``seconds``, members in turn."""
        interval = 1.0 / step.rate
        count = max(1, int(seconds * step.rate))
        start = time.monotonic() + random.random() * interval
        order = list(room_clients)
        random.shuffle(order)
        for index in range(count):
            delay = start + index * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await order[index % len(order)].send(step.number)
                step.sent += 1
            except websockets.ConnectionClosed:
                step.send_errors += 1

    async def idle(self, *, members: list[dict], room: str, warm_up: int = 50) -> dict:
        gate = asyncio.Semaphore(20)

        async def one(client):
            async with gate:
                await client.connect()

        # A first batch opens and closes: what the first sockets load once (modules
        # imported on first use, pools, caches) is not counted per socket.
        warm = [Client(self, member, room) for member in members[:warm_up]]
        await asyncio.gather(*(one(client) for client in warm))
        await asyncio.gather(*(c.close() for c in warm), return_exceptions=True)
        await asyncio.sleep(2)
        before = rss_kib(self.server_pid)
        clients = [Client(self, member, room) for member in members]
        await asyncio.gather(*(one(client) for client in clients))
        await asyncio.sleep(3)
        after = rss_kib(self.server_pid)
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await self.settle()
        return {
            "sockets": len(clients),
            "rss_before_kib": before,
            "rss_after_kib": after,
            "kib_per_socket": round((after - before) / len(clients), 2),
        }


def summarize(latencies: list[float]) -> dict:
    return {
        "count": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else 0.0,
    }
