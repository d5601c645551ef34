"""The chaos soak: break the deployment on purpose while people chat, then prove
that every client converged on the database.

``python -m soak.run [--seconds 600] [--clients 200] [--json PATH] [--markdown PATH]``

The deployment is the one docs/deploy.md describes, all on 127.0.0.1 and all
the soak's own: a PostgreSQL initdb'd into a temporary folder, a redis-server,
two daphne processes behind nginx and ``manage.py notification_worker``. The
clients are asyncio tasks in this process: each is one user with one socket
through nginx (a ticket over REST), sending with ``client_msg_id`` and
retrying an unanswered send with the same one, as a real client does; some
send over REST, edit, delete, react and read. A closed socket is reopened
with backoff and resumed with ``sync``.

On a schedule spread over the run the harness SIGKILLs a daphne and starts it
again, restarts Redis, stops and starts PostgreSQL, and SIGKILLs the
notification worker. After each fault a probe message goes to a room every
client is in; the fault has recovered when every client has seen it.

At the end the load stops, the clients sync, and each client's view of each
room is compared with the database read directly (chat_roomevent and
chat_chatmessage by seq). The report (JSON and Markdown) gives the faults with
their recovery times and the message counts; ``lost`` and ``duplicated`` must
be 0. The helpers that start servers are the live tests' (chat/tests/live.py).
"""

import argparse
import asyncio
import concurrent.futures
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet
from websockets.exceptions import ConnectionClosed

PROJECT_DIR = Path(__file__).resolve().parents[1]

# Bounds: every wait below is one of these.
CONNECT_BACKOFF = (0.5, 8.0)  # seconds: first and longest wait before reopening a socket
REQUEST_TIMEOUT = 10.0  # seconds for an ack before the request counts as unanswered
SEND_ATTEMPTS = 60  # tries of one send (same client_msg_id) before giving up on it
RECOVERY_TIMEOUT = 90.0  # seconds for every client to see a fault's probe
DRAIN_TIMEOUT = 60.0  # seconds for sends in flight to finish once the load stops
CONVERGE_TIMEOUT = 60.0  # seconds for every view to reach the database's seqs
POSTGRES_DOWN = 3.0  # seconds PostgreSQL stays stopped
REDIS_DOWN = 1.0  # seconds Redis stays stopped
HISTORY_PAGES = 200  # pages of 100 messages a resync may fetch
FAULT_KINDS = ("daphne_sigkill", "redis_restart", "postgres_restart", "worker_sigkill")

SETUP = """
import json, random
from accounts.models import Company, User
from chat.services import rooms
from rest_framework_simplejwt.tokens import RefreshToken
spec = json.loads(SPEC)
company = Company.objects.create(name="Soak Inc")
users = [User.objects.create_user(username=name, password=None, company=company, display_name=name) for name in spec["users"]]
by_name = {user.username: user for user in users}
made = []
for index, members in enumerate(spec["rooms"]):
    people = [by_name[name] for name in members]
    room = rooms.room_create_group(creator=people[0], name=f"soak {index}", members=people[1:])
    made.append(str(room.pk))
tokens = {user.username: str(RefreshToken.for_user(user).access_token) for user in users}
print(json.dumps({"rooms": made, "tokens": tokens, "ids": {u.username: str(u.pk) for u in users}}))
"""


# --- the deployment -------------------------------------------------------------
class Deployment:
    """PostgreSQL, Redis, two daphnes behind nginx and the notification worker."""

    def __init__(self, tmp: Path):
        from chat.tests import live

        self.live = live
        self.tmp = tmp
        self.postgres = live.PrivatePostgres(tmp / "pg")
        self.redis = None
        self.daphnes = []
        self.nginx = None
        self.worker = None
        self.env = {}
        self.database = ""

    def start(self) -> None:
        live = self.live
        (self.tmp / "pg").mkdir()
        os.chmod(self.tmp / "pg", 0o755)
        self.postgres.init().start()
        self.database = self.postgres.create_database("chat")
        self.redis = live.start_redis(tmp=self.tmp / "redis")
        self.env = live.server_env(
            database=self.database,
            redis=self.redis.url,
            tmp=self.tmp,
            CHAT_RATE_LIMITS_ENABLED="0",
            JWT_ACCESS_MINUTES="240",
            CHAT_LAYER_PREFIX="soak",
        )
        migrated = self.manage("migrate", "--noinput")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        self.daphnes = live.start_daphnes(["daphne-a", "daphne-b"], env=self.env, tmp=self.tmp)
        self.nginx = live.start_nginx(tmp=self.tmp / "nginx", upstream_ports=[d.port for d in self.daphnes])
        self.worker = live.Server(
            "worker",
            [sys.executable, "manage.py", "notification_worker"],
            log_path=self.tmp / "worker.log",
            env=self.env,
            cwd=PROJECT_DIR,
        ).start()

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], check=False, env=self.env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300
        )

    def stop(self) -> None:
        for server in [self.worker, self.nginx, *self.daphnes, self.redis]:
            if server is not None:
                server.stop()
        try:
            self.postgres.stop()
        except Exception:  # noqa: BLE001, S110 - never started, or already stopped
            pass

    # Faults: each returns once the broken part has been started again.
    def daphne_sigkill(self, index: int) -> str:
        daphne = self.daphnes[index % len(self.daphnes)]
        daphne.stop(signal.SIGKILL)
        daphne.start()
        self.live.wait_until(lambda: self.live.answers_http(daphne.url), what=daphne.name, servers=[daphne])
        return daphne.name

    def redis_restart(self, index: int) -> str:
        self.redis.stop()
        time.sleep(REDIS_DOWN)
        self.redis.start_and_wait()
        return self.redis.name

    def postgres_restart(self, index: int) -> str:
        self.postgres.stop()
        time.sleep(POSTGRES_DOWN)
        self.postgres.start()
        return "postgres"

    def worker_sigkill(self, index: int) -> str:
        self.worker.stop(signal.SIGKILL)
        self.worker.start()
        return "notification_worker"

    def describe(self) -> str:
        servers = [self.worker, self.nginx, *self.daphnes, self.redis]
        return "\n".join(server.describe() for server in servers if server is not None)


# --- what a client holds ----------------------------------------------------------
@dataclass
class RoomView:
    """One client's view of one room: the logged events it saw, by seq, and the
    messages as the latest event about each left them."""

    events: dict = field(default_factory=dict)  # seq -> (kind, message id or None)
    messages: dict = field(default_factory=dict)  # message id -> [state seq, content, is_deleted, client_msg_id]
    contiguous: int = 0  # every seq up to here has been seen
    redelivered: int = 0  # events that came again with a seq already seen
    resyncs: int = 0

    def apply(self, frame: dict) -> None:
        seq = frame["seq"]
        if seq in self.events:
            self.redelivered += 1
            return
        message = frame.get("message")
        self.events[seq] = (frame["type"], (message or {}).get("id") or frame.get("message_id"))
        while self.contiguous + 1 in self.events:
            self.contiguous += 1
        if message and frame["type"] in {"message.created", "message.updated", "message.deleted"}:
            self.remember(seq, message)

    def remember(self, seq: int, message: dict) -> None:
        known = self.messages.get(message["id"])
        if known is None or known[0] < seq:
            self.messages[message["id"]] = [seq, message["content"], message["is_deleted"], message["client_msg_id"]]

    def reset(self, seq: int, history: list[dict]) -> None:
        """After resync_required: the room as REST has it now, at ``seq``."""
        self.events = {n: ("resynced", None) for n in range(1, seq + 1)}
        self.contiguous = seq
        self.messages = {}
        self.resyncs += 1
        for message in history:
            self.remember(seq, message)


@dataclass
class Counts:
    sent: int = 0  # messages a client set out to send (one client_msg_id each)
    sent_over_rest: int = 0
    acknowledged: int = 0
    retries: int = 0  # the same client_msg_id sent again
    abandoned: int = 0  # no ack after SEND_ATTEMPTS tries
    edits: int = 0
    deletes: int = 0
    reactions: int = 0
    reads: int = 0
    reconnects: int = 0
    errors: Counter = field(default_factory=Counter)  # error codes and close codes


class Client:
    """One simulated user with one socket through nginx."""

    def __init__(self, harness: "Soak", name: str, token: str, rooms: list[str]):
        self.harness = harness
        self.name = name
        self.token = token
        self.rooms = rooms
        self.views = {room: RoomView() for room in rooms}
        self.acked: dict[str, str] = {}  # client_msg_id -> message id
        self.mine: dict[str, list[str]] = defaultdict(list)  # room -> ids of my acknowledged messages
        self.read_acked: dict[str, int] = {}
        self.read_sent: dict[str, int] = {}
        self.counts = harness.counts
        self.connection = None
        self.connected = asyncio.Event()
        self.waiting: dict[str, asyncio.Future] = {}
        self.refs = 0
        self.refetching: set[asyncio.Task] = set()
        self.messages_made = 0
        self.random = random.Random(name)

    # --- the socket ---------------------------------------------------------------
    async def keep_connected(self) -> None:
        """Open the socket, resume with sync, read it until it closes; again, with backoff."""
        delay = CONNECT_BACKOFF[0]
        while not self.harness.finished:
            try:
                await self.session()
                delay = CONNECT_BACKOFF[0]
            except Exception as error:  # noqa: BLE001 - any failure to connect or resume is retried, as a real client does
                self.counts.errors[f"connect:{type(error).__name__}"] += 1
            if self.harness.finished:
                return
            self.counts.reconnects += 1
            await asyncio.sleep(delay * (0.5 + self.random.random()))
            delay = min(delay * 2, CONNECT_BACKOFF[1])

    async def session(self) -> None:
        live = self.harness.live
        status, body = await live.ahttp("POST", f"{self.harness.url}/api/auth/ws-ticket/", token=self.token)
        if status != 201:
            raise AssertionError(f"ticket: {status}")
        socket = await live.Socket.open(self.harness.ws_url, body["ticket"], sync=True, name=self.name)
        self.connection = socket.connection
        reader = asyncio.create_task(self.read())
        try:
            positions = {room: self.views[room].contiguous for room in self.rooms}
            ack = await self.request({"type": "sync", "rooms": positions}, connected=False)
            if ack is None or ack["type"] != "ack":
                raise AssertionError(f"sync: {ack}")
            for room, state in ack["result"]["rooms"].items():
                if state == "resync_required":
                    await self.refetch(room)
            self.connected.set()
            await reader
        finally:
            self.connected.clear()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            for future in self.waiting.values():
                if not future.done():
                    future.set_result(None)
            self.waiting.clear()
            await socket.close()

    async def read(self) -> None:
        try:
            async for text in self.connection:
                frame = json.loads(text)
                kind = frame.get("type")
                if kind in {"ack", "error"}:
                    future = self.waiting.pop(str(frame.get("ref")), None)
                    if future is not None and not future.done():
                        future.set_result(frame)
                elif "seq" in frame and kind in self.harness.logged_kinds and frame.get("room") in self.views:
                    self.views[frame["room"]].apply(frame)
                elif kind == "resync_required" and frame.get("room") in self.views:
                    # Kept until done: a task nobody holds may be collected mid-way.
                    task = asyncio.create_task(self.refetch(frame["room"]))
                    self.refetching.add(task)
                    task.add_done_callback(self.refetching.discard)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else 1006
            self.counts.errors[f"close:{code}"] += 1

    async def request(self, frame: dict, *, connected: bool = True) -> dict | None:
        """The ack or error answering ``frame``; None when the socket is not
        there or nothing answered within REQUEST_TIMEOUT."""
        if connected:
            try:
                await asyncio.wait_for(self.connected.wait(), REQUEST_TIMEOUT)
            except TimeoutError:
                return None
        self.refs += 1
        ref = f"{self.name}-{self.refs}"
        future = asyncio.get_running_loop().create_future()
        self.waiting[ref] = future
        try:
            await self.connection.send(json.dumps({**frame, "ref": ref}))
            return await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except (ConnectionClosed, TimeoutError):
            return None
        finally:
            self.waiting.pop(ref, None)

    async def refetch(self, room: str) -> None:
        """resync_required: the room's history over REST, from the start."""
        live = self.harness.live
        history, after = [], 0
        for _page in range(HISTORY_PAGES):
            url = f"{self.harness.url}/api/rooms/{room}/messages/?after={after}&limit=100"
            status, page = await live.ahttp("GET", url, token=self.token)
            if status != 200:
                raise AssertionError(f"history: {status}")
            if not page:
                break
            history.extend(page)
            after = max(message["seq"] for message in page)
        status, details = await live.ahttp("GET", f"{self.harness.url}/api/rooms/{room}/", token=self.token)
        seq = details.get("seq", after) if status == 200 and isinstance(details, dict) else after
        self.views[room].reset(seq, history)

    # --- what a person does -------------------------------------------------------------
    async def chat(self) -> None:
        while not self.harness.load_stopped:
            await asyncio.sleep(self.random.expovariate(1 / self.harness.think))
            if self.harness.load_stopped:
                return
            room = self.random.choice(self.rooms[1:] or self.rooms)
            roll = self.random.random()
            if roll < 0.45:
                await self.send_message(room, over_rest=False)
            elif roll < 0.6:
                await self.send_message(room, over_rest=True)
            elif roll < 0.7:
                await self.edit(room)
            elif roll < 0.75:
                await self.delete(room)
            elif roll < 0.87:
                await self.react(room)
            else:
                await self.read_room(room)

    async def send_message(self, room: str, *, over_rest: bool, content: str | None = None) -> str | None:
        """Send until acknowledged, always with the same client_msg_id; the message id."""
        self.messages_made += 1
        client_msg_id = f"{self.name}.{self.messages_made}"
        content = content or f"{client_msg_id} {secrets.token_hex(4)}"
        self.counts.sent += 1
        self.counts.sent_over_rest += over_rest
        self.harness.sent_ids[client_msg_id] = room
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                self.counts.retries += 1
            message = await (self.send_over_rest(room, content, client_msg_id) if over_rest else self.send_over_socket(room, content, client_msg_id))
            if message is not None:
                self.acked[client_msg_id] = message["id"]
                self.mine[room].append(message["id"])
                self.counts.acknowledged += 1
                return message["id"]
            await asyncio.sleep(min(0.25 * 2**attempt, 4.0) * (0.5 + self.random.random()))
        self.counts.abandoned += 1
        return None

    async def send_over_socket(self, room: str, content: str, client_msg_id: str) -> dict | None:
        frame = {"type": "message.send", "room": room, "content": content, "client_msg_id": client_msg_id}
        reply = await self.request(frame)
        if reply is None:
            return None
        if reply["type"] == "error":
            self.counts.errors[f"send:{reply.get('code')}"] += 1
            return None
        return reply["result"]["message"]

    async def send_over_rest(self, room: str, content: str, client_msg_id: str) -> dict | None:
        url = f"{self.harness.url}/api/rooms/{room}/messages/"
        status, body = await self.harness.live.ahttp("POST", url, token=self.token, body={"content": content, "client_msg_id": client_msg_id})
        if status in {200, 201}:
            return body
        self.counts.errors[f"rest:{status}:{(body or {}).get('code') if isinstance(body, dict) else ''}"] += 1
        return None

    async def edit(self, room: str) -> None:
        alive = [m for m in self.mine[room] if not self.deleted(room, m)]
        if not alive:
            return
        message_id = self.random.choice(alive)
        token = self.views[room].messages.get(message_id, [0, "x"])[1] or "x"
        content = f"{token.split()[0]} edited {secrets.token_hex(3)}"
        reply = await self.request({"type": "message.edit", "message_id": message_id, "content": content})
        self.counts.edits += reply is not None and reply["type"] == "ack"

    async def delete(self, room: str) -> None:
        alive = [m for m in self.mine[room] if not self.deleted(room, m)]
        if len(alive) < 3:
            return
        reply = await self.request({"type": "message.delete", "message_id": self.random.choice(alive)})
        self.counts.deletes += reply is not None and reply["type"] == "ack"

    def deleted(self, room: str, message_id: str) -> bool:
        known = self.views[room].messages.get(message_id)
        return known is not None and known[2]

    async def react(self, room: str) -> None:
        candidates = [m for m, state in self.views[room].messages.items() if not state[2]]
        if not candidates:
            return
        frame = {"type": "reaction.add", "message_id": self.random.choice(candidates), "reaction": self.random.choice("👍🎉👀")}
        reply = await self.request(frame)
        self.counts.reactions += reply is not None and reply["type"] == "ack"

    async def read_room(self, room: str) -> None:
        seq = self.views[room].contiguous
        if seq <= self.read_acked.get(room, 0):
            return
        self.read_sent[room] = max(self.read_sent.get(room, 0), seq)
        reply = await self.request({"type": "read", "room": room, "seq": seq})
        if reply is not None and reply["type"] == "ack":
            self.read_acked[room] = max(self.read_acked.get(room, 0), seq)
            self.counts.reads += 1


# --- the run ----------------------------------------------------------------------------
@dataclass
class Fault:
    kind: str
    target: str
    at: float  # seconds since the load started
    took: float  # seconds the injection itself took (kill and start again)
    recovery: float | None  # seconds from the injection until every client saw the probe
    recovered: bool


class Soak:
    def __init__(self, *, seconds: float, clients: int, think: float, tmp: Path):
        from chat.events.wire import LOGGED_KINDS
        from chat.tests import live

        self.live = live
        self.logged_kinds = LOGGED_KINDS
        self.seconds = seconds
        self.client_count = clients
        self.think = think
        self.tmp = tmp
        self.deployment = Deployment(tmp)
        self.counts = Counts()
        self.clients: list[Client] = []
        self.probe: Client | None = None
        self.sent_ids: dict[str, str] = {}
        self.faults: list[Fault] = []
        self.user_ids: dict[str, str] = {}
        self.probe_room = ""
        self.unconverged: list[str] = []
        self.load_seconds = 0.0
        # Faults run in one thread that outlives the run: a server started
        # again from a thread gets SIGTERM when that thread exits (live.py's
        # PR_SET_PDEATHSIG is per thread), so never from asyncio's pool.
        self.fault_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="faults")
        self.load_stopped = False
        self.finished = False
        self.url = ""
        self.ws_url = ""

    # --- setup -------------------------------------------------------------------------------
    def plan(self) -> tuple[list[str], list[list[str]]]:
        """Users and rooms: the probe room (everyone), then rooms of different sizes."""
        names = [f"user{n:03d}" for n in range(self.client_count)]
        chooser = random.Random(13)
        rooms = [["probe", *names]]
        sizes = [min(40, self.client_count), 15, 15, 8, 8, 8, 4, 4, 4, 4, 2, 2, 2, 2, 2]
        for size in sizes * max(1, self.client_count // 40):
            rooms.append(chooser.sample(names, min(size, len(names))))
        # Everyone chats somewhere besides the probe room.
        lonely = [name for name in names if not any(name in members for members in rooms[1:])]
        for first, second in zip(lonely[::2], lonely[1::2] or names[:1]):
            rooms.append([first, second])
        if len(lonely) % 2:
            rooms.append([lonely[-1], names[0] if lonely[-1] != names[0] else names[1]])
        return ["probe", *names], rooms

    def set_up(self) -> None:
        self.deployment.start()
        names, room_members = self.plan()
        spec = json.dumps({"users": names, "rooms": room_members})
        script = SETUP.replace("SPEC", repr(spec))
        made = self.deployment.manage("shell", "-c", script)
        assert made.returncode == 0, made.stderr[-3000:]
        result = json.loads(made.stdout.strip().splitlines()[-1])
        self.url, self.ws_url = self.deployment.nginx.url, self.deployment.nginx.ws_url
        rooms_of = defaultdict(list)
        for room, members in zip(result["rooms"], room_members):
            for name in members:
                rooms_of[name].append(room)
        self.user_ids = result["ids"]
        self.probe_room = result["rooms"][0]
        self.clients = [Client(self, name, result["tokens"][name], rooms_of[name]) for name in names[1:]]
        self.probe = Client(self, "probe", result["tokens"]["probe"], rooms_of["probe"])

    # --- running -------------------------------------------------------------------------
    async def run(self) -> None:
        everyone = [*self.clients, self.probe]
        sockets = [asyncio.create_task(client.keep_connected()) for client in everyone]
        try:
            await self.wait_connected(everyone, timeout=120)
            started = time.monotonic()
            chatting = [asyncio.create_task(client.chat()) for client in self.clients]
            await self.inject_faults(started)
            await asyncio.sleep(max(0.0, started + self.seconds - time.monotonic()))
            self.load_stopped = True
            self.load_seconds = time.monotonic() - started
            await asyncio.wait(chatting, timeout=DRAIN_TIMEOUT)
            for task in chatting:
                task.cancel()
            await asyncio.gather(*chatting, return_exceptions=True)
            await self.converge(everyone)
        finally:
            self.finished = True
            for client in everyone:
                if client.connection is not None:
                    await client.connection.close()
            await asyncio.wait(sockets, timeout=15)
            for task in sockets:
                task.cancel()
            await asyncio.gather(*sockets, return_exceptions=True)

    async def wait_connected(self, clients: list[Client], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(client.connected.is_set() for client in clients):
            assert time.monotonic() < deadline, "clients did not all connect"
            await asyncio.sleep(0.2)

    async def inject_faults(self, started: float) -> None:
        count = max(len(FAULT_KINDS), int(self.seconds // 60))
        for index in range(count):
            at = self.seconds * (index + 1) / (count + 1)
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            kind = FAULT_KINDS[index % len(FAULT_KINDS)]
            injected = time.monotonic()
            print(f"soak: {injected - started:6.1f}s {kind}", flush=True)
            inject = getattr(self.deployment, kind)
            target = await asyncio.get_running_loop().run_in_executor(self.fault_thread, inject, index // len(FAULT_KINDS))
            took = time.monotonic() - injected
            recovery = await self.recover(f"probe {index} after {kind}", deadline=injected + RECOVERY_TIMEOUT)
            fault = Fault(kind, target, round(injected - started, 1), round(took, 2),
                          None if recovery is None else round(recovery - injected, 2), recovery is not None)  # fmt: skip
            print(f"soak: {kind} on {target}: recovered={fault.recovered} in {fault.recovery}s", flush=True)
            self.faults.append(fault)

    async def recover(self, content: str, *, deadline: float) -> float | None:
        """When every client saw a probe message sent now (None: not before ``deadline``)."""
        sending = asyncio.create_task(self.probe.send_message(self.probe_room, over_rest=False, content=content))
        try:
            while time.monotonic() < deadline:
                message_id = sending.result() if sending.done() else None
                if message_id and all(message_id in client.views[self.probe_room].messages for client in self.clients):
                    return time.monotonic()
                await asyncio.sleep(0.1)
            return None
        finally:
            if not sending.done():
                sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)

    async def converge(self, clients: list[Client]) -> None:
        """Each client syncs until its views reach the database's seqs (bounded)."""
        seqs = await asyncio.to_thread(self.room_seqs)
        deadline = time.monotonic() + CONVERGE_TIMEOUT
        behind = clients
        while behind and time.monotonic() < deadline:
            await asyncio.gather(*(self.resume(client) for client in behind))
            behind = [c for c in behind if any(c.views[r].contiguous < seqs[r] for r in c.rooms)]
            if behind:
                await asyncio.sleep(0.5)
        self.unconverged = [client.name for client in behind]

    async def resume(self, client: Client) -> None:
        positions = {room: view.contiguous for room, view in client.views.items()}
        ack = await client.request({"type": "sync", "rooms": positions})
        for room, state in ((ack or {}).get("result") or {}).get("rooms", {}).items():
            if state == "resync_required":
                await client.refetch(room)

    # --- checking --------------------------------------------------------------------------
    def connect_database(self):
        import psycopg

        return psycopg.connect(self.deployment.database, autocommit=True)

    def room_seqs(self) -> dict[str, int]:
        with self.connect_database() as db:
            return {str(room): seq for room, seq in db.execute("SELECT id, seq FROM chat_chatroom")}

    def check(self) -> dict:
        """Every client's view against the database."""
        from django.conf import settings

        fernet = MultiFernet([Fernet(key.encode()) for key in settings.CHAT_ENCRYPTION_KEYS])
        with self.connect_database() as db:
            room_seq = {str(r): s for r, s in db.execute("SELECT id, seq FROM chat_chatroom")}
            events = defaultdict(dict)
            for room, seq, kind, message in db.execute("SELECT room_id, seq, kind, message_id FROM chat_roomevent ORDER BY room_id, seq"):
                events[str(room)][seq] = (kind, str(message) if message else None)
            messages = defaultdict(dict)
            by_client_msg_id = defaultdict(list)
            by_token = Counter()
            rows = db.execute("SELECT id, room_id, seq, content_encrypted, is_deleted, client_msg_id, sender_id FROM chat_chatmessage")
            for message, room, seq, encrypted, is_deleted, client_msg_id, sender in rows:
                content = None if is_deleted else (fernet.decrypt(encrypted.encode()).decode() if encrypted else "")
                messages[str(room)][str(message)] = (seq, content, is_deleted, client_msg_id)
                if client_msg_id:
                    by_client_msg_id[client_msg_id].append(str(message))
                    if content:
                        by_token[content.split()[0]] += 1
            reads = {(str(u), str(r)): s for u, r, s in db.execute("SELECT user_id, room_id, last_read_seq FROM chat_chatmember")}

        problems = []
        acked = {cmid: mid for client in [*self.clients, self.probe] for cmid, mid in client.acked.items()}
        lost = [cmid for cmid, mid in acked.items() if by_client_msg_id.get(cmid) != [mid]]
        stored_twice = [cmid for cmid, ids in by_client_msg_id.items() if len(ids) > 1]
        token_twice = [token for token, n in by_token.items() if n > 1 and token in self.sent_ids]
        problems += [f"acknowledged {cmid} not stored exactly once as {acked[cmid]}" for cmid in lost[:20]]
        missing_views = duplicated_views = wrong_content = gaps = redelivered = bad_reads = 0
        for client in [*self.clients, self.probe]:
            for room in client.rooms:
                view, log = client.views[room], events[room]
                redelivered += view.redelivered
                expected = set(range(1, room_seq[room] + 1))
                if set(view.events) != expected:
                    gaps += 1
                    problems.append(f"{client.name} {room}: seqs differ: missing {sorted(expected - set(view.events))[:10]}, extra {sorted(set(view.events) - expected)[:10]}")
                if not view.resyncs:
                    # The log links message events to their message; reactions name it in the payload only.
                    wrong = [s for s, (kind, mid) in view.events.items() if s in log and (log[s][0] != kind or log[s][1] not in {None, mid})]
                    if wrong:
                        problems.append(f"{client.name} {room}: events differ from the log at seqs {wrong[:10]}")
                created = Counter(mid for kind, mid in view.events.values() if kind == "message.created")
                duplicated_views += sum(1 for n in created.values() if n > 1)
                for message_id, (seq, content, is_deleted, client_msg_id) in messages[room].items():
                    seen = view.messages.get(message_id)
                    if seen is None:
                        missing_views += 1
                        problems.append(f"{client.name} {room}: message #{seq} ({client_msg_id}) missing")
                    elif seen[1:3] != [content, is_deleted]:
                        wrong_content += 1
                        problems.append(f"{client.name} {room}: message #{seq} is {seen[1:3]}, database {[content, is_deleted]}")
                stored = reads.get((self.user_ids.get(client.name), room), 0)
                if not client.read_acked.get(room, 0) <= stored <= max(client.read_sent.get(room, 0), client.views[room].contiguous):
                    bad_reads += 1
                    problems.append(f"{client.name} {room}: read position {stored}, acknowledged {client.read_acked.get(room, 0)}")
        counts = self.counts
        return {
            "seconds": self.seconds,
            "load_seconds": round(self.load_seconds, 1),
            "clients": len(self.clients),
            "rooms": len(room_seq),
            "room_sizes": sorted(Counter(len(c.rooms) for c in self.clients).items()),
            "messages_sent": counts.sent,
            "messages_sent_over_rest": counts.sent_over_rest,
            "acknowledged": counts.acknowledged,
            "stored": sum(len(m) for m in messages.values()),
            "lost": len(lost) + missing_views,
            "lost_from_database": len(lost),
            "missing_from_views": missing_views,
            "duplicated": len(stored_twice) + len(token_twice) + duplicated_views,
            "redelivered_events": redelivered,
            "views_with_gaps": gaps,
            "wrong_content": wrong_content,
            "read_positions_inconsistent": bad_reads,
            "unconverged_clients": self.unconverged,
            "send_retries": counts.retries,
            "sends_abandoned": counts.abandoned,
            "edits": counts.edits,
            "deletes": counts.deletes,
            "reactions": counts.reactions,
            "reads": counts.reads,
            "reconnects": counts.reconnects,
            "errors": dict(counts.errors.most_common()),
            "faults": [asdict(fault) for fault in self.faults],
            "all_recovered": bool(self.faults) and all(fault.recovered for fault in self.faults),
            "problems": problems[:50],
        }


def markdown(report: dict) -> str:
    lines = [
        "# Chaos soak",
        "",
        f"{report['clients']} clients in {report['rooms']} rooms for {report['load_seconds']} s of load.",
        "",
        "| faults injected | at (s) | target | injection took (s) | recovered in (s) |",
        "|---|---|---|---|---|",
    ]
    for fault in report["faults"]:
        recovery = fault["recovery"] if fault["recovered"] else "NOT RECOVERED"
        lines.append(f"| {fault['kind']} | {fault['at']} | {fault['target']} | {fault['took']} | {recovery} |")
    lines += ["", "| figure | value |", "|---|---|"]
    for key in ("messages_sent", "messages_sent_over_rest", "acknowledged", "stored", "lost", "duplicated", "redelivered_events",
                "views_with_gaps", "wrong_content", "read_positions_inconsistent", "send_retries", "sends_abandoned", "edits",
                "deletes", "reactions", "reads", "reconnects"):  # fmt: skip
        lines.append(f"| {key} | {report[key]} |")
    if report["problems"]:
        lines += ["", "Problems:", "", *(f"- {problem}" for problem in report["problems"])]
    return "\n".join(lines) + "\n"


def prepare_environment(tmp: Path) -> None:
    """Secrets of this run only, before Django's settings are read (server_env passes them on)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ["CHAT_LOCAL_SECRETS_FILE"] = str(tmp / "local-secrets.json")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("CHAT_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    os.environ.setdefault("CHAT_SEARCH_KEY", secrets.token_urlsafe(32))
    os.environ.setdefault("CHAT_LAYER_PREFIX", "soak")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="seconds of load (default 600)")
    parser.add_argument("--clients", type=int, default=200, help="simulated users (default 200)")
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds between one client's actions (default 5)")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the report as Markdown here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) afterwards")
    options = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="chat-soak-", dir="/tmp"))
    os.chmod(tmp, 0o755)
    prepare_environment(tmp)
    sys.path.insert(0, str(PROJECT_DIR))
    soak = Soak(seconds=options.seconds, clients=options.clients, think=options.think, tmp=tmp)
    try:
        soak.set_up()
        print(f"soak: {len(soak.clients)} clients through {soak.url}; logs in {tmp}", flush=True)
        asyncio.run(soak.run())
        report = soak.check()
        for server in [soak.deployment.worker, soak.deployment.nginx, *soak.deployment.daphnes]:
            if not server.alive:
                report["problems"].append(f"{server.name} is not running at the end")
    finally:
        soak.deployment.stop()
        soak.fault_thread.shutdown()
    if options.json:
        options.json.write_text(json.dumps(report, indent=2))
    if options.markdown:
        options.markdown.write_text(markdown(report))
    print(markdown(report))
    if not options.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    passed = report["lost"] == 0 and report["duplicated"] == 0 and report["all_recovered"] and not report["problems"]
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
