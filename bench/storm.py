"""The reconnect storm: every socket of a server drops at once and comes back.

Each of ``users`` members keeps ``sockets_per_user`` sockets (a person with a
laptop, a phone and a few tabs): 1,000 users × 5 = 5,000 sockets for
``make bench``, every one of a real member of its rooms (the rooms of
bench/setup_data.py: a user is in one 5 × 200 room and, for half of them, one
50 × 10 room). The timeline:

1. Every socket connects the real way (ticket, handshake, ``hello``), a few at a
   time; one message per room is sent, and every socket must see it: each has a
   last seq of each of its rooms.
2. **The drop**: every client socket is aborted at once (TCP reset, no close
   frame: a network blip or a load balancer restart as the server sees it).
3. ``between`` messages per room are sent over REST while nobody is connected.
4. **The storm**: every socket reconnects at the same moment, doing what a
   client does: ``POST /api/auth/ws-ticket/`` with its JWT, ``/ws/chat/?sync=1&ticket=…``,
   ``hello``, ``sync`` from its last seq of each room. A refusal (an HTTP error or
   a dropped connection on the ticket, a refused handshake, a close such as 4429)
   is retried with the browser's backoff (static/chat/socket.js: 0.5 s doubling to
   30 s, half of it random; at least the ``Retry-After`` of a 429/503). Meanwhile
   ``trickle`` messages a second per room keep coming (REST), as people who were
   not cut off go on talking.
5. A socket is **resynced** when it has every logged event of each of its rooms
   up to the room's seq at the storm's start, each exactly once and in order
   (checked by seq: a gap is a lost event). The storm's time is the last
   socket's; a storm not done within ``deadline`` seconds is reported as failed.
6. Then the trickle stops and every socket must reach its rooms' final seq from
   the database: ``missing`` counts every event a socket never got.

Reported: the time until the last socket was resynced, p50/p99 per socket, the
retries and why, events missing or duplicated, the server's CPU and resident
memory (sampled every half second), this load generator's own CPU, and how
long each part of the path took (ticket, handshake to ``hello``, ``sync`` to its
ack), to show where a reconnect costs.
"""

import asyncio
import json
import random
import resource
import time
import uuid
from collections import Counter

import websockets

from bench.load import cpu_seconds, percentile, rss_kib

# Logged room events (docs/realtime.md): each carries the room's next seq.
LOGGED = frozenset({
    "message.created", "message.updated", "message.deleted", "reaction.added", "reaction.removed",
    "member.added", "member.updated", "member.removed", "room.updated", "thread.updated",
    "message.pinned", "message.unpinned",
})
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0  # static/chat/socket.js
TOO_MANY_SOCKETS = 4429  # the browser waits at least the fifth step after it
MARK = "storm:"


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def raise_file_limit() -> int:
    """The soft limit of open files raised to the hard one (5,000 sockets, and a
    ticket request each, need more than the usual 1,024); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Refused(Exception):
    """The server said no (the reason is a short key such as ``ticket 503``)."""

    def __init__(self, reason: str, retry_after: float = 0.0):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


async def http_request(base: str, method: str, path: str, *, access: str, body: bytes = b"",
                       timeout: float = 30.0) -> tuple[int, dict, bytes, float]:
    """One HTTP/1.1 request on a fresh connection, as each browser tab makes its
    own: (status, headers, body, seconds to connect). Far cheaper for the load
    generator than a thread per request."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()

    async def exchange():
        reader, writer = await asyncio.open_connection(host, int(port))
        connected = time.monotonic() - started
        try:
            writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {access}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            raw = await reader.read()
        finally:
            writer.close()
        return raw, connected

    raw, connected = await asyncio.wait_for(exchange(), timeout)
    head, _, payload = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    if not lines[0].startswith("HTTP/1."):
        raise ConnectionError("no HTTP answer")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        payload = dechunk(payload)
    return int(lines[0].split()[1]), headers, payload, connected


def dechunk(data: bytes) -> bytes:
    out, at = [], 0
    while True:
        end = data.index(b"\r\n", at)
        size = int(data[at:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        at = end + 2 + size + 2


class Storm:
    def __init__(self, *, base: str, server_pid: int, users: list[dict], rooms: dict[str, dict],
                 sockets_per_user: int, database_url: str):
        self.base = base
        self.ws_base = base.replace("http://", "ws://")
        self.server_pid = server_pid
        self.rooms = rooms  # room id -> {"sender": access token of a member}
        self.database_url = database_url
        self.clients = [StormClient(self, user, n) for user in users for n in range(sockets_per_user)]
        self.phase = "connect"
        self.done = False
        self.started = 0.0  # the storm's start (monotonic)
        self.target: dict[str, int] = {}  # room -> seq at the storm's start
        self.retry_reasons: Counter = Counter()
        self.timings: dict[str, list[float]] = {"ticket_ms": [], "ticket_connect_ms": [], "handshake_hello_ms": [],
                                                "sync_ack_ms": [], "attempt_ms": []}
        self.send_refusals: Counter = Counter()
        self.sent = 0
        self.samples: list[dict] = []

    async def send_message(self, room: str, note: str) -> None:
        """One message to ``room`` over REST, sent again (same client_msg_id) while
        the server answers 429/503 or the connection fails, as a client would."""
        body = json.dumps({"content": f"{MARK}{note}", "client_msg_id": uuid.uuid4().hex}).encode()
        for attempt in range(30):
            try:
                status, headers, _, _ = await http_request(
                    self.base, "POST", f"/api/rooms/{room}/messages/", access=self.rooms[room]["sender"], body=body,
                )
            except (OSError, asyncio.TimeoutError, ConnectionError):
                status, headers = 0, {}
            if status in (200, 201):
                self.sent += 1
                return
            self.send_refusals[status] += 1
            await asyncio.sleep(max(float(headers.get("retry-after") or 0), 0.2 * 2 ** min(attempt, 4)))
        raise RuntimeError(f"message to {room} refused 30 times")

    def room_seqs(self) -> dict[str, int]:
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute("SELECT id::text, seq FROM chat_chatroom WHERE id = ANY(%s::uuid[])", [list(self.rooms)])
            return {room: seq for room, seq in rows}

    async def sample(self) -> None:
        last_cpu, last_own, last_at = cpu_seconds(self.server_pid), time.process_time(), time.monotonic()
        while not self.done:
            await asyncio.sleep(0.5)
            cpu, own, now = cpu_seconds(self.server_pid), time.process_time(), time.monotonic()
            self.samples.append({
                "t": round(now - self.started, 2), "rss_kib": rss_kib(self.server_pid),
                "cpu": round((cpu - last_cpu) / (now - last_at), 3), "load_cpu": round((own - last_own) / (now - last_at), 3),
                "resynced": sum(1 for c in self.clients if c.resynced_at is not None),
                "server_threads": threads_of(self.server_pid),
                "retries": sum(self.retry_reasons.values()),
            })
            if len(self.samples) % 20 == 0:  # every 10 s: where it is
                print(f"    {json.dumps(self.samples[-1])}", flush=True)
            last_cpu, last_own, last_at = cpu, own, now

    # --- the run ----------------------------------------------------------------
    async def connect_all(self, concurrency: int, timeout: float) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(client):
            async with gate:
                for attempt in range(8):
                    try:
                        await client.session(sync=False)
                        return
                    except (Refused, *NETWORK_ERRORS) as error:
                        self.retry_reasons[f"first connect: {reason_of(error)}"] += 1
                        await asyncio.sleep(0.5 * 2 ** attempt)
                raise RuntimeError("a client could not connect for the storm's first phase")

        await asyncio.wait_for(asyncio.gather(*(one(c) for c in self.clients)), timeout)

    async def wait_caught_up(self, targets: dict[str, int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(c.at_least(targets) for c in self.clients if c.ws is not None) and all(
                c.ws is not None for c in self.clients
            ):
                return True
            await asyncio.sleep(0.2)
        return False

    async def trickle(self, rate: float) -> None:
        """``rate`` messages a second into every room (0: none) until stopped."""
        if rate <= 0:
            return

        async def room_loop(room):
            await asyncio.sleep(random.random() / rate)
            count = 0
            while self.phase == "storm":
                count += 1
                await self.send_message(room, f"trickle:{count}")
                await asyncio.sleep(1 / rate)

        await asyncio.gather(*(room_loop(room) for room in self.rooms))

    async def run(self, *, between: int, trickle: float, deadline: float, settle: float,
                  connect_concurrency: int = 50) -> dict:
        print(f"  storm: {len(self.clients)} sockets connect", flush=True)
        t = time.monotonic()
        await self.connect_all(connect_concurrency, timeout=600)
        first_connect_s = time.monotonic() - t
        await asyncio.gather(*(self.send_message(room, "before") for room in self.rooms))
        if not await self.wait_caught_up(self.room_seqs(), 60):
            raise RuntimeError("the sockets did not all receive the message before the drop")
        await asyncio.sleep(1.0)
        rss_before = rss_kib(self.server_pid)

        print(f"  storm: drop every socket, {between} messages per room meanwhile", flush=True)
        self.phase = "dropped"
        for client in self.clients:
            client.drop()
        await asyncio.gather(*(self.between(room, between) for room in self.rooms))
        self.target = self.room_seqs()
        self.retry_reasons.clear()
        for name in self.timings:
            self.timings[name] = []

        print(f"  storm: {len(self.clients)} sockets reconnect at once", flush=True)
        self.phase = "storm"
        self.started = time.monotonic()
        cpu_before, own_before = cpu_seconds(self.server_pid), time.process_time()
        sampler = asyncio.ensure_future(self.sample())
        talking = asyncio.ensure_future(self.trickle(trickle))
        loops = [asyncio.ensure_future(c.keep_connected()) for c in self.clients]
        finished = False
        while time.monotonic() - self.started < deadline:
            if all(c.resynced_at is not None for c in self.clients):
                finished = True
                break
            await asyncio.sleep(0.1)
        storm_seconds = time.monotonic() - self.started
        server_cpu = (cpu_seconds(self.server_pid) - cpu_before) / storm_seconds
        load_cpu = (time.process_time() - own_before) / storm_seconds

        # The talk stops; every socket that is connected must reach the final seqs.
        self.phase = "settle"
        await talking
        final = self.room_seqs()
        settled = await self.wait_caught_up(final, settle) if finished else False
        self.done = True
        await sampler
        rss_after = rss_kib(self.server_pid)
        for client in self.clients:
            client.drop()
        for loop in loops:  # a client may be waiting out a long backoff
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        return self.report(
            finished=finished, settled=settled, storm_seconds=storm_seconds, final=final, server_cpu=server_cpu,
            load_cpu=load_cpu, rss_before=rss_before, rss_after=rss_after, first_connect_s=first_connect_s,
            between=between, trickle=trickle, deadline=deadline,
        )

    async def between(self, room: str, count: int) -> None:
        for n in range(count):
            await self.send_message(room, f"between:{n}")

    def report(self, *, finished, settled, storm_seconds, final, server_cpu, load_cpu, rss_before, rss_after,
               first_connect_s, between, trickle, deadline) -> dict:
        resync = [c.resynced_at - self.started for c in self.clients if c.resynced_at is not None]
        # Of the sockets that came back (one that never did is counted in not_resynced).
        missing = sum(c.missing(final) for c in self.clients if c.resynced_at is not None)
        users = {c.user_id for c in self.clients}
        return {
            "sockets": len(self.clients),
            "users": len(users),
            "sockets_per_user": len(self.clients) // max(1, len(users)),
            "rooms": len(self.rooms),
            "finished": finished,
            "deadline_s": deadline,
            "all_resynced_s": round(max(resync), 2) if finished else None,
            "resynced": len(resync),
            "not_resynced": len(self.clients) - len(resync),
            "resync_p50_s": round(percentile(resync, 50), 2),
            "resync_p99_s": round(percentile(resync, 99), 2),
            "resync_max_s": round(max(resync, default=0.0), 2),
            # How many were back after 10, 20 (the reach), 60 and 120 seconds.
            "resynced_by_s": {str(t): sum(1 for r in resync if r <= t) for t in (10, 20, 60, 120)},
            "retries": sum(c.retries for c in self.clients),
            "clients_that_retried": sum(1 for c in self.clients if c.retries),
            "most_retries_of_one_client": max((c.retries for c in self.clients), default=0),
            "retry_reasons": dict(self.retry_reasons.most_common()),
            "resync_required": sum(c.resync_required for c in self.clients),
            "missing_events": missing,
            "duplicate_events": sum(c.duplicates for c in self.clients),
            "caught_up_to_final_seq": settled,
            "messages_between": between * len(self.rooms),
            "messages_sent_total": self.sent,
            "trickle_per_room_per_s": trickle,
            "message_send_refusals": {str(k): v for k, v in self.send_refusals.items()},
            "server_cpu": round(server_cpu, 3),
            "load_cpu": round(load_cpu, 3),
            "rss_kib_before_drop": rss_before,
            "rss_kib_max": max((s["rss_kib"] for s in self.samples), default=0),
            "rss_kib_after": rss_after,
            "server_threads_max": max((s["server_threads"] for s in self.samples), default=0),
            "first_connect_s": round(first_connect_s, 1),
            "path_ms": {name: {"count": len(values), "p50": round(percentile(values, 50), 1),
                               "p99": round(percentile(values, 99), 1), "max": round(max(values, default=0.0), 1)}
                        for name, values in self.timings.items()},
            "series": self.samples,
        }


NETWORK_ERRORS = (OSError, websockets.WebSocketException, asyncio.TimeoutError, ConnectionError, ValueError, KeyError)


def reason_of(error: BaseException) -> str:
    if isinstance(error, Refused):
        return error.reason
    if isinstance(error, websockets.InvalidStatus):
        return f"handshake {error.response.status_code}"
    if isinstance(error, websockets.InvalidMessage):
        # daphne drops a handshake the application has not accepted within its
        # websocket_connect_timeout (5 s) without an HTTP answer.
        return "handshake dropped without an answer"
    if isinstance(error, websockets.ConnectionClosed):
        return f"closed {error.rcvd.code if error.rcvd else 'without close frame'}"
    return type(error).__name__


class StormClient:
    """One socket of one user, with its last seq of each of the user's rooms."""

    def __init__(self, storm: Storm, user: dict, number: int):
        self.storm = storm
        self.user_id = user["id"]
        self.access = user["access"]
        self.number = number
        self.seqs: dict[str, int] = {}
        self.ws = None
        self.reader = None
        self.acked = None  # the sync's ack arrived (a future, per session)
        self.last_close = None
        self.retries = 0
        self.duplicates = 0
        self.gaps = 0
        self.resync_required = 0
        self.resynced_at: float | None = None

    def at_least(self, targets: dict[str, int]) -> bool:
        return all(self.seqs.get(room, targets[room]) >= targets[room] for room in self.seqs)

    def missing(self, final: dict[str, int]) -> int:
        return self.gaps + sum(max(0, final[room] - seq) for room, seq in self.seqs.items() if room in final)

    async def ticket(self) -> str:
        started = time.monotonic()
        try:
            status, headers, body, connected = await http_request(
                self.storm.base, "POST", "/api/auth/ws-ticket/", access=self.access, body=b"{}",
            )
        except (OSError, asyncio.TimeoutError) as error:
            raise Refused(f"ticket {type(error).__name__}") from None
        if status != 201:
            raise Refused(f"ticket {status}", float(headers.get("retry-after") or 0))
        self.storm.timings["ticket_ms"].append((time.monotonic() - started) * 1000)
        self.storm.timings["ticket_connect_ms"].append(connected * 1000)
        return json.loads(body)["ticket"]

    async def session(self, *, sync: bool) -> None:
        """Ticket, handshake, hello and (``sync``) the sync's ack; returns once live."""
        timings = self.storm.timings
        started = time.monotonic()
        self.last_close = None
        ticket = await self.ticket()
        handshake = time.monotonic()
        query = f"sync=1&ticket={ticket}" if sync else f"ticket={ticket}"
        ws = await websockets.connect(
            f"{self.storm.ws_base}/ws/chat/?{query}", open_timeout=60, close_timeout=1, ping_interval=None,
            max_size=2**22, compression=None,
        )
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if hello.get("type") == "error" and hello.get("code") == "too_many_sockets":
                raise Refused(f"closed {TOO_MANY_SOCKETS} (too_many_sockets)")
            if hello.get("type") != "hello":
                raise Refused(f"no hello: {hello.get('type')}")
            timings["handshake_hello_ms"].append((time.monotonic() - handshake) * 1000)
            if not sync:
                self.seqs = {room["id"]: room["seq"] for room in hello["rooms"] if room["id"] in self.storm.rooms}
            self.ws = ws
            self.acked = asyncio.get_running_loop().create_future() if sync else None
            self.reader = asyncio.ensure_future(self.read(ws))
            if sync:
                asked = time.monotonic()
                await ws.send(json.dumps({"type": "sync", "ref": "sync", "rooms": self.seqs}))
                await asyncio.wait({self.acked, self.reader}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
                if not self.acked.done():
                    raise Refused(f"closed {self.last_close} before the sync's ack" if self.reader.done()
                                  else "no sync ack in 60 s")
                timings["sync_ack_ms"].append((time.monotonic() - asked) * 1000)
                timings["attempt_ms"].append((time.monotonic() - started) * 1000)
                self.check_resynced()
        except BaseException:
            self.ws = None
            ws.transport.abort()
            raise

    async def read(self, ws) -> None:
        try:
            async for text in ws:
                self.on_frame(text)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.last_close = ws.close_code

    def on_frame(self, text: str) -> None:
        frame = json.loads(text)
        kind = frame.get("type")
        if kind in LOGGED:
            room, seq = frame.get("room"), frame.get("seq")
            last = self.seqs.get(room)
            if last is None:
                return
            if seq <= last:
                self.duplicates += 1
                return
            if seq > last + 1:
                self.gaps += seq - last - 1
            self.seqs[room] = seq
            self.check_resynced()
        elif kind == "ack" and frame.get("ref") == "sync":
            for value in frame["result"]["rooms"].values():
                if not isinstance(value, int):
                    self.resync_required += 1
            if self.acked is not None and not self.acked.done():
                self.acked.set_result(True)
        elif kind == "resync_required":
            self.resync_required += 1

    def check_resynced(self) -> None:
        storm = self.storm
        if (self.resynced_at is None and storm.phase == "storm" and self.acked is not None and self.acked.done()
                and not self.gaps and all(self.seqs[room] >= storm.target[room] for room in self.seqs)):
            self.resynced_at = time.monotonic()

    def drop(self) -> None:
        """The connection is gone without a close frame (the server sees a reset)."""
        ws, self.ws = self.ws, None
        if ws is not None:
            ws.transport.abort()

    async def keep_connected(self) -> None:
        """The storm: reconnect at once, then with the browser's backoff until live."""
        attempt = 0
        while not self.storm.done:
            try:
                await self.session(sync=True)
                attempt = 0
                await self.reader  # live until the socket closes (a close now is a new reconnect)
                if self.storm.done:
                    return
                self.storm.retry_reasons[f"closed {self.last_close} after the sync"] += 1
                minimum = 0.0
            except (Refused, *NETWORK_ERRORS) as error:
                if self.storm.done:
                    return
                self.storm.retry_reasons[reason_of(error)] += 1
                minimum = error.retry_after if isinstance(error, Refused) else 0.0
                if str(TOO_MANY_SOCKETS) in reason_of(error):
                    attempt = max(attempt, 5)  # as the browser: "too many open windows"
            self.ws = None
            self.retries += 1
            ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)
            attempt += 1
            await asyncio.sleep(max(minimum, ceiling / 2 + random.random() * ceiling / 2))


async def path_costs(*, base: str, server_pid: int, users: list[dict], behind: int = 5) -> dict:
    """What each part of a reconnect costs the server with no contention: one
    socket at a time, the server's CPU (and the wall time) per socket for a
    ticket, the handshake to ``hello``, a ``sync`` with nothing to replay, one
    ``behind`` events behind in each room, and the server's handling of a reset
    socket. Every socket is closed cleanly at the end (the user's socket count
    goes back to zero)."""
    ws_base = base.replace("http://", "ws://")
    figures = {}

    async def ticket(user):
        status, _, body, _ = await http_request(base, "POST", "/api/auth/ws-ticket/", access=user["access"], body=b"{}")
        if status != 201:
            raise Refused(f"ticket {status}")
        return json.loads(body)["ticket"]

    def measure(name, started, cpu_before, count, **extra):
        figures[name] = {"wall_ms": round((time.monotonic() - started) / count * 1000, 2),
                         "server_cpu_ms": round((cpu_seconds(server_pid) - cpu_before) / count * 1000, 2), **extra}

    await ticket(users[0])  # what the first request loads once is not counted
    started, cpu = time.monotonic(), cpu_seconds(server_pid)
    tickets = [await ticket(user) for user in users]
    measure("ticket", started, cpu, len(users))
    sockets = []
    started, cpu = time.monotonic(), cpu_seconds(server_pid)
    for value in tickets:
        ws = await websockets.connect(f"{ws_base}/ws/chat/?sync=1&ticket={value}", ping_interval=None, compression=None,
                                      max_size=2**22, open_timeout=30)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
        sockets.append((ws, {room["id"]: room["seq"] for room in hello["rooms"]}))
    measure("handshake to hello", started, cpu, len(sockets))
    try:
        for name, back in (("sync, nothing to replay", 0), (f"sync, {behind} events behind in each room", behind)):
            started, cpu, rooms, replayed = time.monotonic(), cpu_seconds(server_pid), 0, 0
            for ws, seqs in sockets:
                rooms += len(seqs)
                await ws.send(json.dumps({"type": "sync", "ref": "costs", "rooms": {r: max(0, s - back) for r, s in seqs.items()}}))
                while True:
                    text = await asyncio.wait_for(ws.recv(), 30)
                    if text.startswith('{"type":"ack"') and '"ref":"costs"' in text:
                        break
                    replayed += json.loads(text).get("type") in LOGGED  # not presence and the like
            measure(name, started, cpu, len(sockets), rooms_per_socket=round(rooms / len(sockets), 2),
                    events_per_socket=round(replayed / len(sockets), 2))
    finally:
        started, cpu = time.monotonic(), cpu_seconds(server_pid)
        for ws, _ in sockets:
            ws.transport.abort()
        await asyncio.sleep(2.0)  # the server notices the resets and cleans up
        measure("a reset socket's cleanup", started, cpu, len(sockets))
        figures["a reset socket's cleanup"].pop("wall_ms")
    figures["sockets"] = len(sockets)
    return figures


async def storm(*, base: str, server_pid: int, data: dict, sockets_per_user: int, database_url: str,
                between: int, trickle: float, deadline: float, settle: float = 30.0, users: int | None = None) -> dict:
    """The storm against a chatsite server with the data of bench/setup_data.py."""
    raise_file_limit()
    members = data["users"][:users] if users else data["users"]
    chosen = {m["id"] for m in members}
    rooms = {}
    for made in data["workloads"].values():
        for room in made:
            inside = [m for m in room["members"] if m["id"] in chosen]
            if inside:
                rooms[room["id"]] = {"sender": room["members"][0]["access"]}
    runner = Storm(base=base, server_pid=server_pid, users=members, rooms=rooms,
                   sockets_per_user=sockets_per_user, database_url=database_url)
    return await runner.run(between=between, trickle=trickle, deadline=deadline, settle=settle)
