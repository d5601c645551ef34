"""Live tests: real daphne processes, a real nginx and real Redis, a real WebSocket client.

The setup is the one docs/deploy.md describes: two daphne processes share one
Redis and the test's PostgreSQL database, behind nginx without sticky
sessions. Users and rooms are made in the test process through the services
(committed: ``transaction=True``); everything else goes over the wire.
Helpers (starting and stopping the servers, the client) are in live.py.
"""

import asyncio
from dataclasses import dataclass

import pytest
from channels.db import database_sync_to_async as in_db
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from accounts import tickets
from chat.events.wire import CLOSE_LAYER_LOST
from chat.models import ChatMessage, ChatRoom
from chat.tests import live
from chat.tests.factories import group_room, send

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]


# --- servers ------------------------------------------------------------------
@dataclass
class Cluster:
    a: live.Daphne
    b: live.Daphne
    nginx: live.Nginx | None
    redis: live.RedisServer | None = None

    @property
    def daphnes(self):
        return [self.a, self.b]

    def assert_alive(self):
        for server in [self.a, self.b, self.nginx]:
            if server is not None:
                assert server.alive, f"{server.name} died\n{server.describe()}"


def _require_services():
    from django.conf import settings
    from django.db import connection

    live.require("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")
    live.require("Redis", bool(settings.REDIS_URL), "set REDIS_URL")


def _stop_all(*servers):
    for server in servers:
        if server is not None:
            server.stop()


@pytest.fixture(scope="module")
def cluster(django_db_setup, tmp_path_factory):
    """Two daphne processes on the test's Redis and database, behind nginx (for the whole module)."""
    from django.conf import settings
    from django.db import connection

    _require_services()
    tmp = tmp_path_factory.mktemp("live")
    env = live.server_env(database=live.database_url(connection.settings_dict), redis=settings.REDIS_URL, tmp=tmp)
    a, b = live.start_daphnes(["daphne-a", "daphne-b"], env=env, tmp=tmp)
    nginx = None
    try:
        nginx = live.start_nginx(tmp=tmp / "nginx", upstream_ports=[a.port, b.port])
        print(f"live servers: {a.url} {b.url}, nginx {nginx.url}; logs in {tmp}")
        yield Cluster(a=a, b=b, nginx=nginx)
    finally:
        _stop_all(nginx, a, b)


@pytest.fixture
def servers(cluster, transactional_db):
    """The module's cluster, checked alive after each test (which then flushes the database)."""
    yield cluster
    cluster.assert_alive()


@pytest.fixture
def own_redis_cluster(django_db_setup, transactional_db, tmp_path):
    """Two daphne processes on a redis-server of their own, which the test may stop and restart."""
    from django.db import connection

    _require_services()
    redis = live.start_redis(tmp=tmp_path / "redis")
    daphnes = []
    try:
        env = live.server_env(database=live.database_url(connection.settings_dict), redis=redis.url, tmp=tmp_path)
        daphnes = live.start_daphnes(["daphne-a", "daphne-b"], env=env, tmp=tmp_path)
        print(f"live servers: {daphnes[0].url} {daphnes[1].url}, {redis.url}; logs in {tmp_path}")
        yield Cluster(a=daphnes[0], b=daphnes[1], nginx=None, redis=redis)
    finally:
        _stop_all(*daphnes, redis)


@pytest.fixture
def own_cluster(django_db_setup, transactional_db, tmp_path):
    """Two daphne processes behind nginx of this test's own, which it may kill."""
    from django.conf import settings
    from django.db import connection

    _require_services()
    env = live.server_env(database=live.database_url(connection.settings_dict), redis=settings.REDIS_URL, tmp=tmp_path)
    daphnes = live.start_daphnes(["daphne-a", "daphne-b"], env=env, tmp=tmp_path)
    nginx = None
    try:
        nginx = live.start_nginx(tmp=tmp_path / "nginx", upstream_ports=[d.port for d in daphnes])
        yield Cluster(a=daphnes[0], b=daphnes[1], nginx=nginx)
    finally:
        _stop_all(nginx, *daphnes)


# --- helpers ------------------------------------------------------------------
@in_db
def jwt(user) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


async def ticket_over_http(base_url: str, token: str) -> str:
    status, body = await live.ahttp("POST", f"{base_url}/api/auth/ws-ticket/", token=token)
    assert status == 201, (status, body)
    return body["ticket"]


async def open_socket(base_ws_url: str, user, name: str, *, sync: bool = False) -> live.Socket:
    """A socket authenticated with a ticket issued in this process (the cache is the servers' Redis)."""
    ticket = await in_db(tickets.issue)(user)
    return await live.Socket.open(base_ws_url, ticket, sync=sync, name=name)


async def sockets_on_each_process(cluster: Cluster, user, name: str) -> list[live.Socket]:
    """Sockets through nginx until one landed on each daphne (nginx says which in X-Upstream)."""
    wanted = {f"{live.HOST}:{server.port}" for server in cluster.daphnes}
    kept: dict[str, live.Socket] = {}
    spare = []
    try:
        for attempt in range(8):
            socket = await open_socket(cluster.nginx.ws_url, user, f"{name}@nginx#{attempt}")
            if socket.upstream in wanted and socket.upstream not in kept:
                kept[socket.upstream] = socket
            else:
                spare.append(socket)
            if len(kept) == len(wanted):
                break
    finally:
        for socket in spare:
            await socket.close()
    assert set(kept) == wanted, f"nginx sent the sockets to {set(kept)} only, wanted {wanted}"
    return list(kept.values())


async def rest_send(base_url: str, token: str, room_id: str, content: str, client_msg_id: str | None = None):
    body = {"content": content}
    if client_msg_id is not None:
        body["client_msg_id"] = client_msg_id
    return await live.ahttp("POST", f"{base_url}/api/rooms/{room_id}/messages/", token=token, body=body)


def created(*, content: str | None = None, message_id: str | None = None):
    def match(frame):
        if frame.get("type") != "message.created":
            return False
        message = frame["message"]
        return (content is None or message["content"] == content) and (message_id is None or message["id"] == message_id)

    return match


def seqs(frames) -> list[int]:
    return [frame["seq"] for frame in frames]


def contents(frames, kind="message.created") -> list[str]:
    return [frame["message"]["content"] for frame in frames if frame["type"] == kind]


async def close_all(*sockets):
    await asyncio.gather(*(socket.close() for socket in sockets if socket is not None), return_exceptions=True)


@in_db
def room_seq(room) -> int:
    return ChatRoom.objects.get(pk=room.pk).seq


# --- two processes behind nginx ---------------------------------------------------
async def test_message_sent_through_one_process_reaches_sockets_on_the_other(servers, alice, bob, carol):
    room = await in_db(group_room)(alice, bob, carol)
    room_id = str(room.pk)
    alice_a = await open_socket(servers.a.ws_url, alice, "alice@A")
    bob_b = await open_socket(servers.b.ws_url, bob, "bob@B")
    carol_via_nginx = await sockets_on_each_process(servers, carol, "carol")
    everyone = [alice_a, bob_b, *carol_via_nginx]
    start = alice_a.room_seq(room_id)
    try:
        assert all(socket.room_seq(room_id) == start for socket in everyone)

        # A WebSocket send on process A ...
        ack = await alice_a.request(
            {"type": "message.send", "ref": "a1", "room": room_id, "content": "from A", "client_msg_id": "live-a1"}
        )
        assert ack["type"] == "ack" and ack["result"]["created"] is True, ack
        from_a = ack["result"]["message"]
        for socket in everyone:
            frame = (await socket.until(created(message_id=from_a["id"])))[-1]
            assert frame["message"] == from_a and frame["seq"] == from_a["seq"] == start + 1

        # ... and one on process B reach every socket on both processes.
        ack = await bob_b.request(
            {"type": "message.send", "ref": "b1", "room": room_id, "content": "from B", "client_msg_id": "live-b1"}
        )
        assert ack["type"] == "ack", ack
        from_b = ack["result"]["message"]
        for socket in everyone:
            frame = (await socket.until(created(message_id=from_b["id"])))[-1]
            assert frame["message"] == from_b

        # A REST POST through nginx reaches sockets on both processes too.
        token = await jwt(carol)
        status, from_rest = await rest_send(servers.nginx.url, token, room_id, "over REST", "live-rest-1")
        assert status == 201, from_rest
        for socket in everyone:
            frame = (await socket.until(created(message_id=from_rest["id"])))[-1]
            assert frame["message"] == from_rest

        # Every socket saw the room's events once each, in seq order, with no gap.
        final = await room_seq(room)
        assert final == start + 3
        for socket in everyone:
            events = live.logged(socket.history, room_id)
            assert seqs(events) == list(range(start + 1, final + 1)), (socket.name, [live.short(f) for f in events])
            assert contents(events) == ["from A", "from B", "over REST"]
    finally:
        await close_all(*everyone)


async def test_reconnect_to_the_other_process_with_sync_gets_every_missed_event_once(servers, alice, bob):
    room = await in_db(group_room)(alice, bob)
    room_id = str(room.pk)
    alice_token, bob_token = await jwt(alice), await jwt(bob)
    first = second = None
    try:
        first = await live.Socket.open(
            servers.a.ws_url, await ticket_over_http(servers.nginx.url, alice_token), sync=True, name="alice@A"
        )
        assert first.hello["sync_required"] is True
        hello_seq = first.room_seq(room_id)
        ack = await first.request({"type": "sync", "ref": "s1", "rooms": {room_id: hello_seq}})
        assert ack == {"type": "ack", "ref": "s1", "result": {"rooms": {room_id: hello_seq}}}
        status, body = await rest_send(servers.nginx.url, bob_token, room_id, "before the break")
        assert status == 201, body
        await first.until(created(content="before the break"))
        last_seen = live.logged(first.history, room_id)[-1]["seq"]
        await first.close()

        # While alice is away: sends over REST (through nginx, so on both
        # processes), one through the services in this process, and an edit.
        missed = []
        for n in range(4):
            status, body = await rest_send(servers.nginx.url, bob_token, room_id, f"missed {n}")
            assert status == 201, body
            missed.append(body)
        await in_db(send)(room, bob, "missed from a service")
        status, edited = await live.ahttp(
            "PATCH", f"{servers.nginx.url}/api/messages/{missed[0]['id']}/", token=bob_token, body={"content": "missed 0, edited"}
        )
        assert status == 200, edited

        # She comes back on the other process.
        second = await live.Socket.open(
            servers.b.ws_url, await ticket_over_http(servers.nginx.url, alice_token), sync=True, name="alice@B"
        )
        assert second.hello["sync_required"] is True
        # Committed after hello, before her sync: held live, replayed from the log, delivered once.
        status, body = await rest_send(servers.nginx.url, bob_token, room_id, "while holding")
        assert status == 201, body
        ack = await second.request({"type": "sync", "ref": "s2", "rooms": {room_id: last_seen}})
        assert ack["type"] == "ack", ack
        synced_to = ack["result"]["rooms"][room_id]
        assert synced_to == await room_seq(room)

        # Then live events, from both processes.
        for n in range(2):
            status, body = await rest_send(servers.nginx.url, bob_token, room_id, f"live {n}")
            assert status == 201, body
        await second.until(created(content="live 1"))
        await second.quiet_for(0.5)

        final = await room_seq(room)
        events = live.logged(second.history, room_id)
        assert seqs(events) == list(range(last_seen + 1, final + 1)), [live.short(f) for f in events]
        assert contents(events) == [
            "missed 0, edited",  # replayed from the log: the message as it is now
            "missed 1",
            "missed 2",
            "missed 3",
            "missed from a service",
            "while holding",
            "live 0",
            "live 1",
        ]
        assert [f["type"] for f in events].count("message.updated") == 1
        assert len({f["seq"] for f in events}) == len(events)
    finally:
        await close_all(first, second)


async def test_a_thread_reply_on_one_process_reaches_the_other_with_its_summary_and_resumes_once(servers, alice, bob):
    room = await in_db(group_room)(alice, bob)
    room_id = str(room.pk)
    alice_a = await open_socket(servers.a.ws_url, alice, "alice@A")
    bob_b = await open_socket(servers.b.ws_url, bob, "bob@B")
    returning = None
    try:
        ack = await alice_a.request({"type": "message.send", "ref": "root", "room": room_id, "content": "plan?"})
        root = ack["result"]["message"]
        await bob_b.until(created(message_id=root["id"]))
        last_seen = live.logged(bob_b.history, room_id)[-1]["seq"]
        await bob_b.close()

        # Replies while bob is away, through both processes.
        for n, socket in enumerate((alice_a, alice_a)):
            ack = await socket.request(
                {"type": "message.send", "ref": f"r{n}", "room": room_id, "content": f"reply {n}", "thread": root["id"]}
            )
            assert ack["type"] == "ack" and ack["result"]["message"]["thread"] == root["id"], ack
        token = await jwt(alice)
        status, body = await live.ahttp(
            "POST", f"{servers.nginx.url}/api/rooms/{room_id}/messages/", token=token,
            body={"content": "reply 2", "thread": root["id"], "also_in_room": True},
        )
        assert status == 201, body

        # He comes back on the other process (A) and syncs: every reply and summary once, in order.
        returning = await live.Socket.open(servers.a.ws_url, await ticket_over_http(servers.nginx.url, await jwt(bob)), sync=True, name="bob@A")
        ack = await returning.request({"type": "sync", "ref": "s", "rooms": {room_id: last_seen}})
        assert ack["type"] == "ack", ack
        await returning.quiet_for(0.5)
        events = live.logged(returning.history, room_id)
        final = await room_seq(room)
        assert seqs(events) == list(range(last_seen + 1, final + 1)), [live.short(f) for f in events]
        assert [f["type"] for f in events] == ["message.created", "thread.updated"] * 3
        assert contents(events) == ["reply 0", "reply 1", "reply 2"]
        assert [f["summary"]["reply_count"] for f in events if f["type"] == "thread.updated"] == [1, 2, 3]
    finally:
        await close_all(alice_a, bob_b, returning)


async def test_a_daphne_killed_with_sigkill_loses_nothing_its_clients_resume_on_the_other_once(own_cluster, alice, bob):
    cluster = own_cluster
    room = await in_db(group_room)(alice, bob)
    room_id = str(room.pk)
    alice_token, bob_token = await jwt(alice), await jwt(bob)
    on_a = returning = None
    try:
        on_a = await live.Socket.open(cluster.a.ws_url, await ticket_over_http(cluster.nginx.url, bob_token), name="bob@A")
        start = on_a.room_seq(room_id)
        for n in range(3):
            status, body = await rest_send(cluster.nginx.url, alice_token, room_id, f"before {n}", f"k-before-{n}")
            assert status == 201, body
        await on_a.until(created(content="before 2"))
        last_seen = live.logged(on_a.history, room_id)[-1]["seq"]

        cluster.a.process.kill()  # SIGKILL: no cleanup, no close frame
        cluster.a.process.wait(timeout=10)
        await on_a.wait_closed(timeout=10)

        # Alice goes on through nginx, which now only has B.
        for n in range(3):
            status, body = await rest_send(cluster.nginx.url, alice_token, room_id, f"after {n}", f"k-after-{n}")
            assert status == 201, body
        # Bob reconnects through nginx (to B) and syncs from what he saw.
        returning = await live.Socket.open(
            cluster.nginx.url.replace("http://", "ws://"), await ticket_over_http(cluster.nginx.url, bob_token), sync=True, name="bob@B"
        )
        ack = await returning.request({"type": "sync", "ref": "s", "rooms": {room_id: last_seen}})
        assert ack["type"] == "ack", ack
        status, body = await rest_send(cluster.nginx.url, alice_token, room_id, "live again", "k-live")
        assert status == 201, body
        await returning.until(created(content="live again"))
        await returning.quiet_for(0.5)

        before = live.logged(on_a.history, room_id)
        after = live.logged(returning.history, room_id)
        final = await room_seq(room)
        assert seqs(before) == list(range(start + 1, last_seen + 1))
        assert seqs(after) == list(range(last_seen + 1, final + 1)), [live.short(f) for f in after]  # every event once
        assert contents(before) + contents(after) == [*(f"before {n}" for n in range(3)), *(f"after {n}" for n in range(3)), "live again"]
        assert cluster.b.alive and cluster.nginx.alive
    finally:
        await close_all(on_a, returning)


async def test_removed_member_stops_receiving_room_events_on_a_live_server(servers, alice, bob, carol):
    room = await in_db(group_room)(alice, bob, carol)
    room_id = str(room.pk)
    bob_b = await open_socket(servers.b.ws_url, bob, "bob@B")
    carol_a = await open_socket(servers.a.ws_url, carol, "carol@A")
    try:
        token = await jwt(alice)
        status, body = await live.ahttp("DELETE", f"{servers.nginx.url}/api/rooms/{room_id}/members/{bob.pk}/", token=token)
        assert status == 204, body

        removed = (await bob_b.until(lambda f: f.get("type") == "member.removed"))[-1]
        assert removed["room"] == room_id and removed["member"]["user"]["id"] == str(bob.pk)
        await carol_a.until(lambda f: f.get("type") == "member.removed")

        # Later room events reach carol (on the other process), never bob.
        status, after = await rest_send(servers.nginx.url, token, room_id, "after bob left")
        assert status == 201, after
        await carol_a.until(created(message_id=after["id"]))
        await bob_b.quiet_for(1.0)
        index = bob_b.history.index(removed)
        later = [f for f in bob_b.history[index + 1 :] if f.get("room") == room_id]
        assert later == [], [live.short(f) for f in later]

        # His socket stays open, and the room is closed to it.
        error = await bob_b.request({"type": "message.send", "ref": "x", "room": room_id, "content": "still here?"})
        assert error["type"] == "error" and error["code"] == "room_not_found", error
        ack = await bob_b.request({"type": "sync", "ref": "y", "rooms": {room_id: 0}})
        assert ack["result"]["rooms"] == {room_id: "not_found"}
        assert await in_db(ChatMessage.objects.filter(room=room, sender=bob).count)() == 0
    finally:
        await close_all(bob_b, carol_a)


async def test_same_client_msg_id_over_rest_and_websocket_makes_one_message(servers, alice, bob):
    room = await in_db(group_room)(alice, bob)
    room_id = str(room.pk)
    token = await jwt(alice)
    alice_a = await open_socket(servers.a.ws_url, alice, "alice@A")
    alice_b = await open_socket(servers.b.ws_url, alice, "alice@B")
    bob_b = await open_socket(servers.b.ws_url, bob, "bob@B")
    try:
        # Once over REST, then the retry over a WebSocket.
        status, over_rest = await rest_send(servers.nginx.url, token, room_id, "once", "dup-1")
        assert status == 201, over_rest
        ack = await alice_a.request(
            {"type": "message.send", "ref": "r1", "room": room_id, "content": "once", "client_msg_id": "dup-1"}
        )
        assert ack["type"] == "ack", ack
        assert ack["result"]["created"] is False and ack["result"]["message"]["id"] == over_rest["id"]

        # Twice at once, on sockets held by two processes.
        frame = {"type": "message.send", "room": room_id, "content": "twice", "client_msg_id": "dup-2"}
        acks = await asyncio.gather(alice_a.request({**frame, "ref": "c1"}), alice_b.request({**frame, "ref": "c2"}))
        assert [a["type"] for a in acks] == ["ack", "ack"], acks
        assert acks[0]["result"]["message"]["id"] == acks[1]["result"]["message"]["id"]
        assert sorted(a["result"]["created"] for a in acks) == [False, True]

        # Once over REST and once over a WebSocket, at the same moment.
        (status, rest_body), ws_ack = await asyncio.gather(
            rest_send(servers.nginx.url, token, room_id, "both ways", "dup-3"),
            alice_b.request({"type": "message.send", "ref": "c3", "room": room_id, "content": "both ways", "client_msg_id": "dup-3"}),
        )
        assert status in (200, 201) and ws_ack["type"] == "ack", (status, rest_body, ws_ack)
        assert rest_body["id"] == ws_ack["result"]["message"]["id"]
        assert sorted([status == 201, ws_ack["result"]["created"]]) == [False, True]

        for client_msg_id in ("dup-1", "dup-2", "dup-3"):
            count = await in_db(ChatMessage.objects.filter(sender=alice, client_msg_id=client_msg_id).count)()
            assert count == 1, client_msg_id

        # The other member hears each message exactly once.
        await bob_b.until(created(message_id=rest_body["id"]))
        await bob_b.quiet_for(0.5)
        heard = [f["message"]["client_msg_id"] for f in bob_b.history if created()(f)]
        assert heard == ["dup-1", "dup-2", "dup-3"]
    finally:
        await close_all(alice_a, alice_b, bob_b)


# --- Redis goes away ------------------------------------------------------------
@dataclass
class Resumed:
    socket: live.Socket
    sync_ack: dict
    failures: list  # (what happened, close code or None) for each failed attempt


async def resume(base_url: str, base_ws_url: str, token: str, name: str, rooms: dict, *, deadline: float = 30.0) -> Resumed:
    """What a client does after losing its socket: a ticket over HTTP, a socket
    with ?sync=1 and a ``sync`` from its last seen seqs, retried with backoff
    (bounded in attempts and time) until the sync is answered."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    delay = 0.2
    failures = []
    for attempt in range(12):
        socket = None
        try:
            status, body = await live.ahttp("POST", f"{base_url}/api/auth/ws-ticket/", token=token)
            if status != 201:
                failures.append((f"attempt {attempt} ticket: HTTP {status} {body}", None))
            else:
                socket = await live.Socket.open(base_ws_url, body["ticket"], sync=True, name=f"{name}#{attempt}")
                ack = await socket.request({"type": "sync", "ref": "resume", "rooms": rooms})
                return Resumed(socket=socket, sync_ack=ack, failures=failures)
        except ConnectionClosed as closed:
            failures.append((f"attempt {attempt} closed: {closed}", closed.rcvd.code if closed.rcvd else None))
        except (InvalidHandshake, OSError, TimeoutError, AssertionError) as error:
            failures.append((f"attempt {attempt} {type(error).__name__}: {error}", None))
        if socket is not None:
            await socket.close()
        if loop.time() + delay > give_up:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
    raise AssertionError(f"{name}: could not resume within {deadline}s: {failures}")


async def test_redis_restart_closes_sockets_cleanly_and_sync_fills_the_gap(own_redis_cluster, alice, bob, carol):
    servers = own_redis_cluster
    a, b, redis = servers.a, servers.b, servers.redis
    # Made before: only the database. From here on, everything goes through the servers.
    room = await in_db(group_room)(alice, bob, carol)
    room_id = str(room.pk)
    alice_token, bob_token, carol_token = await jwt(alice), await jwt(bob), await jwt(carol)
    sockets = []
    try:
        alice_a = await live.Socket.open(a.ws_url, await ticket_over_http(a.url, alice_token), sync=True, name="alice@A")
        carol_b = await live.Socket.open(b.ws_url, await ticket_over_http(b.url, carol_token), sync=True, name="carol@B")
        sockets += [alice_a, carol_b]
        for socket in sockets:
            ack = await socket.request({"type": "sync", "ref": "s", "rooms": {room_id: socket.room_seq(room_id)}})
            assert ack["type"] == "ack", ack
        status, before = await rest_send(a.url, bob_token, room_id, "before redis stops")
        assert status == 201, before
        for socket in sockets:
            await socket.until(created(message_id=before["id"]))
        last_seen = before["seq"]

        # Redis stops: both sockets get a close frame ("service restart"), the processes live on.
        assert redis.stop() == 0, redis.describe()
        closed = await asyncio.gather(*(socket.wait_closed(timeout=10) for socket in sockets))
        for socket, reason in zip(sockets, closed, strict=True):
            assert reason.rcvd is not None, f"{socket.name}: the connection dropped without a close frame"
            assert reason.rcvd.code == CLOSE_LAYER_LOST, f"{socket.name}: closed with {reason.rcvd}"
        servers.assert_alive()

        # Sends over REST persist while Redis is away.
        away = []
        for n, server in enumerate([a, b, a]):
            status, body = await rest_send(server.url, bob_token, room_id, f"while redis is away {n}", f"away-{n}")
            assert status == 201, (server.name, status, body, server.describe())
            away.append(body)
        stored = await in_db(
            lambda: sorted(
                ChatMessage.objects.filter(room=room, client_msg_id__startswith="away-").values_list("client_msg_id", flat=True)
            )
        )()
        assert stored == ["away-0", "away-1", "away-2"]
        servers.assert_alive()

        # Redis is back (empty: no persistence). Clients reconnect, to the other process this time, and sync.
        redis.start_and_wait()
        resumed = await asyncio.gather(
            resume(b.url, b.ws_url, alice_token, "alice@B", {room_id: last_seen}),
            resume(a.url, a.ws_url, carol_token, "carol@A", {room_id: last_seen}),
        )
        alice_b, carol_a = (r.socket for r in resumed)
        sockets += [alice_b, carol_a]
        for r in resumed:
            assert r.sync_ack["type"] == "ack" and r.sync_ack["result"]["rooms"][room_id] == away[-1]["seq"], r.sync_ack

        # Groups were rebuilt: a live message reaches both, on both processes.
        status, live_after = await rest_send(a.url, bob_token, room_id, "after redis is back")
        assert status == 201, live_after
        for socket in (alice_b, carol_a):
            await socket.until(created(message_id=live_after["id"]))
            await socket.quiet_for(0.3)
            events = live.logged(socket.history, room_id)
            assert seqs(events) == list(range(last_seen + 1, live_after["seq"] + 1)), [live.short(f) for f in events]
            assert contents(events) == [
                "while redis is away 0",
                "while redis is away 1",
                "while redis is away 2",
                "after redis is back",
            ]
        servers.assert_alive()

        # A socket that failed on the way back was closed cleanly too: with the
        # "reconnect and sync" code, never 1011 (an exception the consumer let out).
        unclean = [what for r in resumed for what, code in r.failures if code not in (None, CLOSE_LAYER_LOST)]
        assert unclean == [], unclean
        print("failed attempts on the way back:", [r.failures for r in resumed])
    finally:
        await close_all(*sockets)


async def test_presence_is_shared_across_processes(servers, alice, bob):
    """Online while any socket of the user is open on any process; offline after the last."""
    room = await in_db(group_room)(alice, bob)
    bob_a = await open_socket(servers.a.ws_url, bob, "bob@A")
    alice_a = alice_b = None
    try:
        alice_a = await open_socket(servers.a.ws_url, alice, "alice@A")
        online = (await bob_a.until(lambda f: f["type"] == "presence" and f["user"]["id"] == str(alice.pk)))[-1]
        assert online["status"] == "online"
        alice_b = await open_socket(servers.b.ws_url, alice, "alice@B")
        await alice_a.close()
        alice_a = None
        # alice is still connected through process B: no "offline" for her.
        quiet = await bob_a.quiet_for(1.0)
        assert not [f for f in quiet if f["type"] == "presence" and f["user"]["id"] == str(alice.pk) and f["status"] == "offline"]
        ack = await alice_b.request({"type": "presence", "ref": "away", "status": "away"})
        assert ack["result"] == {"status": "away"}
        away = (await bob_a.until(lambda f: f["type"] == "presence" and f["status"] == "away"))[-1]
        assert away["user"]["id"] == str(alice.pk)
        await alice_b.close()
        alice_b = None
        offline = (await bob_a.until(lambda f: f["type"] == "presence" and f["status"] == "offline"))[-1]
        assert offline["user"]["id"] == str(alice.pk) and room.pk
    finally:
        await close_all(bob_a, alice_a, alice_b)
