"""The WebSocket consumer, through the real ASGI stack (auth middleware included)."""


import asyncio
import logging
import time

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator

from accounts import tickets
from chat import commands
from chat.models import ChatMessage
from chat.tests.factories import group_room, send
from chatsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(user, path="/ws/chat/", **kwargs):
    ticket = await sync_to_async(tickets.issue)(user)
    sep = "&" if "?" in path else "?"
    communicator = WebsocketCommunicator(application, f"{path}{sep}ticket={ticket}", **kwargs)
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return communicator, hello


async def frames_until(communicator, predicate, timeout=3):
    seen = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        seen.append(frame)
        if predicate(frame):
            return seen


async def test_hello_lists_rooms_with_seq_and_my_counts(alice, bob):
    room = await sync_to_async(group_room)(alice, bob)
    await sync_to_async(send)(room, bob, "hi @alice")
    await sync_to_async(send)(room, bob, "and more")
    ws, hello = await connect(alice)
    assert hello["user"]["id"] == str(alice.pk)
    await sync_to_async(room.refresh_from_db)()
    assert hello["rooms"] == [
        {"id": str(room.pk), "seq": room.seq, "last_read_seq": 0, "unread_count": 2, "mention_count": 1}
    ]
    await ws.disconnect()


async def test_send_is_acked_and_broadcast_to_every_member(alice, bob):
    room = await sync_to_async(group_room)(alice, bob)
    ws_a, _ = await connect(alice)
    ws_b, _ = await connect(bob)
    await ws_a.send_json_to({"type": "message.send", "ref": "r1", "room": str(room.pk), "content": "hi bob", "client_msg_id": "c-1"})
    seen = await frames_until(ws_a, lambda f: f["type"] == "ack")
    ack = seen[-1]
    assert ack["ref"] == "r1" and ack["result"]["message"]["content"] == "hi bob"
    created = await frames_until(ws_b, lambda f: f["type"] == "message.created")
    assert created[-1]["message"] == ack["result"]["message"]
    assert created[-1]["seq"] == ack["result"]["message"]["seq"]
    await ws_a.disconnect()
    await ws_b.disconnect()


async def test_non_member_cannot_send_or_hear(alice, bob, carol):
    room = await sync_to_async(group_room)(alice, bob)
    ws_c, _ = await connect(carol)
    await ws_c.send_json_to({"type": "message.send", "ref": 1, "room": str(room.pk), "content": "let me in"})
    error = await ws_c.receive_json_from(timeout=3)
    assert error == {"type": "error", "ref": 1, "code": "room_not_found", "detail": "Room not found."}
    await sync_to_async(send)(room, alice, "private")
    assert await ws_c.receive_nothing(timeout=0.5)
    assert await sync_to_async(ChatMessage.objects.filter(room=room).count)() == 2
    await ws_c.disconnect()


async def test_bad_ticket_and_foreign_origin_are_refused(alice):
    ws = WebsocketCommunicator(application, "/ws/chat/?ticket=" + "x" * 40)
    connected, _ = await ws.connect(timeout=5)
    assert not connected
    ticket = await sync_to_async(tickets.issue)(alice)
    ws = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await ws.connect(timeout=5)
    assert not connected
    ws = WebsocketCommunicator(application, "/ws/chat/")
    connected, _ = await ws.connect(timeout=5)
    assert not connected


async def test_used_ticket_is_refused(alice):
    ticket = await sync_to_async(tickets.issue)(alice)
    first = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}")
    assert (await first.connect(timeout=5))[0]
    second = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}")
    assert not (await second.connect(timeout=5))[0]
    await first.disconnect()


async def test_sync_replays_missed_events_in_order_then_live(alice, bob):
    room = await sync_to_async(group_room)(alice, bob)
    last_seen = room.seq
    for n in range(3):
        await sync_to_async(send)(room, bob, f"missed {n}")
    ws, hello = await connect(alice, "/ws/chat/?sync=1")
    assert hello["sync_required"] is True
    await sync_to_async(send)(room, bob, "live while holding")
    await ws.send_json_to({"type": "sync", "ref": "s", "rooms": {str(room.pk): last_seen}})
    seen = await frames_until(ws, lambda f: f["type"] == "message.created" and f["message"]["content"] == "live while holding")
    logged = [f for f in seen if f["type"] == "message.created"]
    assert [f["seq"] for f in logged] == list(range(last_seen + 1, last_seen + 5))
    assert [f["message"]["content"] for f in logged] == ["missed 0", "missed 1", "missed 2", "live while holding"]
    ack = await ws.receive_json_from(timeout=3)
    assert ack == {"type": "ack", "ref": "s", "result": {"rooms": {str(room.pk): last_seen + 4}}}
    assert await ws.receive_nothing(timeout=0.3)  # the held live copy is not delivered twice
    await ws.disconnect()


async def test_removed_member_stops_receiving_room_events(alice, bob):
    room = await sync_to_async(group_room)(alice, bob)
    ws_b, _ = await connect(bob)
    await sync_to_async(commands.member_remove)(actor=alice, room_id=room.pk, user_id=bob.pk)
    seen = await frames_until(ws_b, lambda f: f["type"] == "member.removed")
    assert seen[-1]["member"]["user"]["id"] == str(bob.pk)
    await sync_to_async(send)(room, alice, "after removal")
    assert await ws_b.receive_nothing(timeout=0.5)
    await ws_b.send_json_to({"type": "typing", "room": str(room.pk)})
    assert (await ws_b.receive_json_from(timeout=3))["code"] == "room_not_found"
    await ws_b.disconnect()


async def test_added_member_hears_the_room_at_once(alice, bob, carol):
    room = await sync_to_async(group_room)(alice, bob)
    ws_c, _ = await connect(carol)
    await sync_to_async(commands.member_add)(actor=alice, room_id=room.pk, user_id=carol.pk, role="member")
    seen = await frames_until(ws_c, lambda f: f["type"] == "message.created")
    assert seen[0]["type"] == "member.added"
    await sync_to_async(send)(room, bob, "welcome carol")
    seen = await frames_until(ws_c, lambda f: f["type"] == "message.created" and f["message"]["content"] == "welcome carol")
    await ws_c.disconnect()


async def room_with(alice, bob):
    return await sync_to_async(group_room)(alice, bob)


async def test_edit_delete_and_reactions_over_the_socket(alice, bob):
    room = await room_with(alice, bob)
    message = await sync_to_async(send)(room, alice, "first draft")
    ws_a, _ = await connect(alice)
    ws_b, _ = await connect(bob)
    await ws_a.send_json_to({"type": "message.edit", "ref": "e", "message_id": str(message.pk), "content": "final"})
    ack = (await frames_until(ws_a, lambda f: f["type"] == "ack"))[-1]
    assert ack["result"]["message"]["content"] == "final" and ack["result"]["message"]["is_edited"]
    updated = (await frames_until(ws_b, lambda f: f["type"] == "message.updated"))[-1]
    assert updated["message"]["content"] == "final"

    await ws_b.send_json_to({"type": "reaction.add", "ref": "r", "message_id": str(message.pk), "reaction": "👍"})
    ack = (await frames_until(ws_b, lambda f: f["type"] == "ack"))[-1]
    assert ack["result"]["reactions"] == [{"reaction": "👍", "count": 1, "user_ids": [str(bob.pk)], "me": True}]
    added = (await frames_until(ws_a, lambda f: f["type"] == "reaction.added"))[-1]
    assert added["user_id"] == str(bob.pk) and added["count"] == 1
    await ws_b.send_json_to({"type": "reaction.remove", "ref": "rr", "message_id": str(message.pk), "reaction": "👍"})
    removed = (await frames_until(ws_a, lambda f: f["type"] == "reaction.removed"))[-1]
    assert removed["count"] == 0

    await ws_b.send_json_to({"type": "message.delete", "ref": "d", "message_id": str(message.pk)})
    error = (await frames_until(ws_b, lambda f: f["type"] == "error"))[-1]
    assert error["code"] == "not_sender" and error["ref"] == "d"
    await ws_a.send_json_to({"type": "message.delete", "ref": "d2", "message_id": str(message.pk)})
    deleted = (await frames_until(ws_b, lambda f: f["type"] == "message.deleted"))[-1]
    assert deleted["message"]["content"] is None and deleted["message"]["is_deleted"]
    await ws_a.disconnect()
    await ws_b.disconnect()


async def test_read_typing_presence_and_ping(alice, bob, settings):
    room = await room_with(alice, bob)
    await sync_to_async(send)(room, alice, "read me")
    ws_b, _ = await connect(bob)
    ws_a, _ = await connect(alice)
    presence = (await frames_until(ws_b, lambda f: f["type"] == "presence" and f["user"]["id"] == str(alice.pk)))[-1]
    assert presence == {"type": "presence", "user": {"id": str(alice.pk), "username": "alice", "display_name": "Alice", "avatar": None}, "status": "online"}

    await ws_b.send_json_to({"type": "read", "ref": 7, "room": str(room.pk), "seq": room.seq + 1})
    ack = (await frames_until(ws_b, lambda f: f["type"] == "ack"))[-1]
    assert ack["result"]["unread_count"] == 0 and ack["ref"] == 7
    read = (await frames_until(ws_a, lambda f: f["type"] == "read"))[-1]
    assert read["user_id"] == str(bob.pk) and read["seq"] == ack["result"]["last_read_seq"]

    await ws_a.send_json_to({"type": "typing", "room": str(room.pk), "is_typing": True})
    typing = (await frames_until(ws_b, lambda f: f["type"] == "typing"))[-1]
    assert typing["is_typing"] is True and typing["user"]["id"] == str(alice.pk) and typing["expires_in"] > 0

    await ws_a.send_json_to({"type": "presence", "ref": "p", "status": "away"})
    away = (await frames_until(ws_b, lambda f: f["type"] == "presence" and f["status"] == "away"))[-1]
    assert away["status"] == "away"

    await ws_a.send_json_to({"type": "ping", "ref": "x"})
    assert (await frames_until(ws_a, lambda f: f["type"] == "pong"))[-1] == {"type": "pong", "ref": "x"}

    settings.CHAT_PRESENCE_GRACE_SECONDS = 0.3
    await ws_a.disconnect()
    offline = (await frames_until(ws_b, lambda f: f["type"] == "presence" and f["status"] == "offline"))[-1]
    assert offline["user"]["id"] == str(alice.pk)
    await ws_b.disconnect()


async def test_someone_back_within_the_grace_period_never_went_offline(alice, bob, settings):
    """A reload, a network change, a server restart: the members of their rooms
    see neither "offline" nor "online", and the shown status stays online."""
    from chat import presence

    settings.CHAT_PRESENCE_GRACE_SECONDS = 2
    await room_with(alice, bob)
    ws_b, _ = await connect(bob)
    ws_a, _ = await connect(alice)
    await frames_until(ws_b, lambda f: f["type"] == "presence" and f["user"]["id"] == str(alice.pk))

    await ws_a.disconnect()
    assert await presence.statuses([alice.pk]) == {str(alice.pk): "online"}  # lingering: still shown
    assert await presence.live_sockets(alice.pk) == 0  # but no longer counted against the cap
    assert presence.online_blocking([alice.pk]) == set()  # nor for @here and notifications
    ws_a, _ = await connect(alice)  # back within the grace
    assert await ws_b.receive_nothing(timeout=1.0)  # no offline, and no online either

    await ws_a.disconnect()  # and now away for good
    offline = (await frames_until(ws_b, lambda f: f["type"] == "presence", timeout=5))[-1]
    assert (offline["status"], offline["user"]["id"]) == ("offline", str(alice.pk))
    assert await presence.statuses([alice.pk]) == {str(alice.pk): "offline"}
    ws_a, _ = await connect(alice)  # after an offline: announced online again
    online = (await frames_until(ws_b, lambda f: f["type"] == "presence"))[-1]
    assert (online["status"], online["user"]["id"]) == ("online", str(alice.pk))
    await ws_a.disconnect()
    await ws_b.disconnect()


async def test_typing_expires_on_its_own(alice, bob, monkeypatch):
    from chat.realtime import consumer as consumers

    monkeypatch.setattr(consumers, "TYPING_TTL", 0.3)
    room = await room_with(alice, bob)
    ws_b, _ = await connect(bob)
    ws_a, _ = await connect(alice)
    await ws_a.send_json_to({"type": "typing", "room": str(room.pk), "is_typing": True})
    await frames_until(ws_b, lambda f: f["type"] == "typing" and f["is_typing"])
    stopped = (await frames_until(ws_b, lambda f: f["type"] == "typing" and not f["is_typing"], timeout=3))[-1]
    assert stopped["user"]["id"] == str(alice.pk)
    await ws_a.disconnect()
    await ws_b.disconnect()


@pytest.mark.parametrize(
    "frame,code",
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"type": "launch.missiles"}', "unknown_type"),
        ('{"type": "message.send", "room": "nope", "content": "x"}', "invalid"),
        ('{"type": "read", "room": "00000000-0000-0000-0000-000000000000", "seq": -1}', "invalid"),
        ('{"type": "presence", "status": "dancing"}', "invalid"),
        ('{"type": "sync", "rooms": [1]}', "invalid"),
        ('{"type": "typing", "room": "00000000-0000-0000-0000-000000000000", "is_typing": "yes"}', "room_not_found"),
        ('{"type": "ping", "ref": {"a": 1}}', "invalid_ref"),
    ],
)
async def test_bad_frames_get_error_events(alice, frame, code):
    ws, _ = await connect(alice)
    await ws.send_to(text_data=frame)
    error = await ws.receive_json_from(timeout=3)
    assert error["type"] == "error" and error["code"] == code, error
    await ws.send_json_to({"type": "ping"})
    assert (await frames_until(ws, lambda f: f["type"] == "pong"))  # the socket lives on
    await ws.disconnect()


async def test_oversized_frame_is_refused(alice, bob, settings):
    settings.CHAT_MAX_FRAME_BYTES = 200
    room = await room_with(alice, bob)
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "message.send", "room": str(room.pk), "content": "x" * 300})
    assert (await frames_until(ws, lambda f: f["type"] == "error"))[-1]["code"] == "frame_too_large"
    assert await sync_to_async(ChatMessage.objects.filter(room=room).count)() == 1
    await ws.disconnect()


async def test_too_long_message_names_the_limit(alice, bob, settings):
    settings.CHAT_MAX_MESSAGE_LENGTH = 5
    room = await room_with(alice, bob)
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "message.send", "ref": "l", "room": str(room.pk), "content": "too long"})
    error = (await frames_until(ws, lambda f: f["type"] == "error"))[-1]
    assert error["code"] == "content_too_long" and "5" in error["detail"]
    await ws.disconnect()


async def test_rate_limit_over_the_socket_is_counted(alice, bob, settings):
    from chatsite.core.models import RateLimitLog

    settings.CHAT_RATE_LIMITS = {"message.send": "2/m"}
    room = await room_with(alice, bob)
    ws, _ = await connect(alice)
    for n in range(3):
        await ws.send_json_to({"type": "message.send", "ref": n, "room": str(room.pk), "content": f"m{n}"})
    seen = await frames_until(ws, lambda f: f["type"] == "error")
    error = seen[-1]
    assert error["code"] == "rate_limited" and error["ref"] == 2 and error["retry_after"] >= 1
    log = await sync_to_async(RateLimitLog.objects.get)()
    assert (log.event_type, log.count, log.room_id) == ("message.send", 1, room.pk)
    await ws.disconnect()


async def test_same_client_msg_id_twice_makes_one_message(alice, bob):
    room = await room_with(alice, bob)
    ws, _ = await connect(alice)
    ids = []
    for ref in ("a", "b"):
        await ws.send_json_to({"type": "message.send", "ref": ref, "room": str(room.pk), "content": "once", "client_msg_id": "dup"})
        ack = (await frames_until(ws, lambda f: f["type"] == "ack"))[-1]
        ids.append((ack["result"]["message"]["id"], ack["result"]["created"]))
    assert ids[0][0] == ids[1][0] and [c for _, c in ids] == [True, False]
    assert await sync_to_async(ChatMessage.objects.filter(client_msg_id="dup").count)() == 1
    await ws.disconnect()


async def test_sockets_per_user_are_limited(alice, settings):
    settings.CHAT_MAX_SOCKETS_PER_USER = 2
    first, _ = await connect(alice)
    second, _ = await connect(alice)
    ticket = await sync_to_async(tickets.issue)(alice)
    third = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}")
    assert (await third.connect(timeout=5))[0]
    assert (await third.receive_json_from(timeout=3))["code"] == "too_many_sockets"
    assert (await third.receive_output(timeout=3))["code"] == 4429
    await first.disconnect()
    await second.disconnect()


async def test_a_socket_being_closed_no_longer_counts_against_the_cap(alice, settings, monkeypatch):
    """A crowd dropped at once comes back before its old sockets are cleaned up
    (a reconnect storm): a socket whose close has begun is not counted."""
    from chat import presence

    settings.CHAT_MAX_SOCKETS_PER_USER = 2
    first, _ = await connect(alice)
    second, _ = await connect(alice)
    backend = type(presence.backend())
    real_remove, cleanup_may_go = backend.remove, asyncio.Event()

    async def slow_remove(self, user_id, channel):
        await cleanup_may_go.wait()
        return await real_remove(self, user_id, channel)

    async def slow_linger(self, user_id, channel, until):
        await cleanup_may_go.wait()
        return await real_linger(self, user_id, channel, until)

    real_linger = backend.linger
    monkeypatch.setattr(backend, "remove", slow_remove)
    monkeypatch.setattr(backend, "linger", slow_linger)
    await first.send_input({"type": "websocket.disconnect", "code": 1006})  # a reset: the cleanup is queued
    await asyncio.sleep(0.2)
    assert await presence.backend().live(str(alice.pk), time.time()) == 2  # still in the shared set

    third, _ = await connect(alice)  # not refused with 4429

    cleanup_may_go.set()
    await first.wait(timeout=3)
    assert await presence.live_sockets(alice.pk) == 2
    assert presence._closing == {}
    ticket = await sync_to_async(tickets.issue)(alice)
    fourth = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}")
    assert (await fourth.connect(timeout=5))[0]
    assert (await fourth.receive_json_from(timeout=3))["code"] == "too_many_sockets"  # the cap still holds
    await second.disconnect()
    await third.disconnect()


async def test_logout_closes_the_users_sockets(alice):
    ws, _ = await connect(alice)
    await sync_to_async(commands.user_logged_out)(user=alice)
    assert (await ws.receive_json_from(timeout=3)) == {"type": "disconnected", "reason": "logged_out"}
    assert (await ws.receive_output(timeout=3))["code"] == 4001


async def test_session_cookie_needs_our_origin(alice, client):
    from django.conf import settings as django_settings

    await sync_to_async(client.force_login)(alice)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}".encode()
    ours = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"cookie", cookie), (b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")])
    assert (await ours.connect(timeout=5))[0]
    assert (await ours.receive_json_from(timeout=3))["user"]["id"] == str(alice.pk)
    await ours.disconnect()
    theirs = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"cookie", cookie), (b"origin", b"https://evil.example")])
    assert not (await theirs.connect(timeout=5))[0]
    no_origin = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"cookie", cookie)])
    assert not (await no_origin.connect(timeout=5))[0]


async def test_events_arrive_in_seq_order_when_the_layer_drops_one(alice, bob):
    """A lost group message is filled from the room log before the next one."""
    room = await room_with(alice, bob)
    ws, _ = await connect(alice)
    from unittest import mock

    from chat.events import broadcast

    real = broadcast._publish
    dropped = []

    def lossy(group, message):
        if message.get("type") == "chat.event" and not dropped:
            dropped.append(message["seq"])
            return
        real(group, message)

    with mock.patch.object(broadcast, "_publish", lossy):
        await sync_to_async(send)(room, bob, "lost on the layer")
    await sync_to_async(send)(room, bob, "next one")
    seen = await frames_until(ws, lambda f: f["type"] == "message.created" and f["message"]["content"] == "next one")
    contents = [f["message"]["content"] for f in seen if f["type"] == "message.created"]
    assert contents == ["lost on the layer", "next one"]
    assert [f["seq"] for f in seen if f["type"] == "message.created"] == [dropped[0], dropped[0] + 1]
    await ws.disconnect()


async def test_deactivated_user_is_disconnected_with_4401_as_documented(alice):
    ws, _ = await connect(alice)
    await sync_to_async(commands.user_set_active)(user=alice, is_active=False)
    assert (await ws.receive_json_from(timeout=3)) == {"type": "disconnected", "reason": "deactivated"}
    assert (await ws.receive_output(timeout=3))["code"] == 4401
    ticket = await sync_to_async(tickets.issue)(alice)
    refused = WebsocketCommunicator(application, f"/ws/chat/?ticket={ticket}")
    assert not (await refused.connect(timeout=5))[0]


def test_every_client_frame_of_the_protocol_has_a_handler():
    # protocol.parse lets through exactly wire.CLIENT_FRAMES; a type without a
    # handler would fail inside the consumer instead of answering an error frame.
    from chat.events import wire
    from chat.realtime.consumer import ChatConsumer

    assert set(ChatConsumer._frame_handlers) == set(wire.CLIENT_FRAMES)


async def test_a_message_mentioning_me_carries_the_mention_and_my_other_tab_hears_my_read(alice, bob):
    room = await sync_to_async(group_room)(alice, bob)
    ws_alice, _ = await connect(alice)
    tab_one, _ = await connect(bob)
    tab_two, _ = await connect(bob)
    await ws_alice.send_json_to({"type": "message.send", "ref": "m", "room": str(room.pk), "content": "@bob look"})
    created = (await frames_until(tab_one, lambda f: f["type"] == "message.created"))[-1]
    assert created["message"]["mentions"] == [{"kind": "user", "user_id": str(bob.pk)}]
    await frames_until(tab_two, lambda f: f["type"] == "message.created")

    await tab_one.send_json_to({"type": "read", "ref": "r", "room": str(room.pk), "seq": created["seq"]})
    unread = (await frames_until(tab_two, lambda f: f["type"] == "unread"))[-1]
    assert unread == {
        "type": "unread",
        "room": str(room.pk),
        "seq": created["seq"],
        "last_read_seq": created["seq"],
        "unread_count": 0,
        "mention_count": 0,
        "notify_level": "mentions",
        "notify_level_is_default": True,
        "notifications_muted": False,
    }
    for ws in (ws_alice, tab_one, tab_two):
        await ws.disconnect()


async def test_room_mention_by_a_member_gets_an_error_frame_and_nothing_is_sent(alice, bob):
    room = await sync_to_async(group_room)(alice, bob)
    ws, _ = await connect(bob)
    await ws.send_json_to({"type": "message.send", "ref": 7, "room": str(room.pk), "content": "@room hi", "client_msg_id": "x1"})
    error = (await frames_until(ws, lambda f: f["type"] == "error"))[-1]
    assert (error["ref"], error["code"]) == (7, "mention_room_forbidden")
    assert not await sync_to_async(ChatMessage.objects.filter(room=room, sender=bob).exists)()
    await ws.disconnect()


@pytest.mark.parametrize(
    "query",
    ["", "ticket=", "ticket=not-a-ticket", "ticket=" + "x" * 5000, "sync=1", "ticket=%ff%fe", "ticket=a&ticket=b"],
)
async def test_a_refused_handshake_logs_no_traceback(query, caplog):
    """No ticket, a bad one, garbage — with an Origin, as a browser sends: refused, and nothing in the log above INFO."""
    communicator = WebsocketCommunicator(application, f"/ws/chat/?{query}", headers=[(b"origin", b"http://127.0.0.1:8000")])
    with caplog.at_level(logging.DEBUG):
        connected, code = await communicator.connect(timeout=5)
        await communicator.disconnect()
        await communicator.wait(timeout=2)
    assert not connected
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING or record.exc_info]


async def test_a_client_gone_under_uvicorn_is_not_taken_for_a_lost_redis(alice, caplog):
    """uvicorn's ClientDisconnected is an OSError, like a lost Redis: told apart."""
    from uvicorn.protocols.utils import ClientDisconnected

    from chat.realtime.consumer import ChatConsumer

    scope = {"type": "websocket", "path": "/ws/chat/", "query_string": b"", "headers": [], "subprotocols": [], "user": alice}
    sent = []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message["type"])
        raise ClientDisconnected()

    app = ChatConsumer.as_asgi()
    with caplog.at_level(logging.DEBUG):
        await asyncio.wait_for(app(scope, receive, send), 10)
    assert "websocket.close" not in sent  # no 4012 for a client that is gone
    assert not [record for record in caplog.records if "channel layer lost" in record.getMessage() or record.exc_info]


async def test_writes_are_refused_as_overloaded_while_the_loop_is_late_and_served_after(alice, bob):
    import time

    from chatsite.core import overload

    room = await sync_to_async(group_room)(alice, bob)
    ws, _ = await connect(alice)
    await asyncio.sleep((overload.LATE_TICKS + 2) * overload.TICK)
    for _ in range(overload.LATE_TICKS):  # the process's event loop late, tick after tick
        time.sleep(0.4)
        await asyncio.sleep(0.001)
    await ws.send_json_to({"type": "message.send", "ref": "s1", "room": str(room.pk), "content": "now?", "client_msg_id": "c-over"})
    await ws.send_json_to({"type": "ping", "ref": "p1"})
    time.sleep(0.4)  # and late again while the frames wait: overdue when they are read
    seen = await frames_until(ws, lambda f: f["type"] == "pong")
    answers = [f for f in seen if f["type"] in ("error", "ack", "pong")]
    assert answers == [
        {"type": "error", "ref": "s1", "code": "overloaded", "detail": overload.DETAIL, "retry_after": 1},
        {"type": "pong", "ref": "p1"},  # reads go on
    ]
    assert not await sync_to_async(ChatMessage.objects.filter(room=room, client_msg_id="c-over").exists)()
    await asyncio.sleep((overload.LATE_TICKS + 2) * overload.TICK)
    # The retry with the same client_msg_id, once the load is gone, is stored once.
    await ws.send_json_to({"type": "message.send", "ref": "s2", "room": str(room.pk), "content": "now?", "client_msg_id": "c-over"})
    ack = (await frames_until(ws, lambda f: f["type"] in ("ack", "error")))[-1]
    assert ack["type"] == "ack" and ack["ref"] == "s2" and ack["result"]["created"] is True
    await ws.disconnect()


async def test_writes_are_refused_while_database_jobs_queue_for_a_thread(alice, bob, settings):
    import threading

    from chatsite.core import db_threads as db
    from chatsite.core import overload

    settings.CHAT_OVERLOAD_DB_QUEUE = 0
    room = await sync_to_async(group_room)(alice, bob)
    ws, _ = await connect(alice)
    release = threading.Event()
    executor = db.executor
    # Every database thread busy, and one more job waiting for one.
    busy = [executor.submit(release.wait, 10) for _ in range(executor._max_workers + 1)]
    try:
        await asyncio.sleep(0.2)
        assert overload.gauge.db_waiting() >= 1
        await ws.send_json_to({"type": "reaction.add", "ref": 7, "message_id": "0" * 32, "emoji": "👍"})
        refused = (await frames_until(ws, lambda f: f["type"] == "error"))[-1]
        assert (refused["code"], refused["ref"], refused["retry_after"]) == ("overloaded", 7, 1)
    finally:
        release.set()
    await asyncio.gather(*(asyncio.wrap_future(job) for job in busy))
    await ws.send_json_to({"type": "message.send", "ref": "s", "room": str(room.pk), "content": "after", "client_msg_id": "c-db"})
    ack = (await frames_until(ws, lambda f: f["type"] in ("ack", "error")))[-1]
    assert ack["type"] == "ack"
    await ws.disconnect()


async def test_every_socket_of_mine_hears_what_i_save_and_nobody_else_does(alice, bob):
    room = await sync_to_async(group_room)(alice, bob)
    message = await sync_to_async(send)(room, bob, "keep this")
    tab, _ = await connect(alice)
    other, _ = await connect(bob)
    await sync_to_async(commands.message_save)(actor=alice, message_id=message.pk)
    saved = (await frames_until(tab, lambda f: f["type"] == "saved"))[-1]
    assert saved == {"type": "saved", "message_id": str(message.pk), "saved": True}
    await sync_to_async(commands.message_unsave)(actor=alice, message_id=message.pk)
    assert (await frames_until(tab, lambda f: f["type"] == "saved"))[-1]["saved"] is False
    await other.send_json_to({"type": "ping", "ref": "p"})
    heard = await frames_until(other, lambda f: f["type"] == "pong")
    assert not [f for f in heard if f["type"] == "saved"]
    for ws in (tab, other):
        await ws.disconnect()


async def test_a_crowd_syncing_from_one_seq_reads_the_log_once_unless_a_read_is_too_old(alice, bob, carol):
    """Sockets that ask the same part of a room's log a moment apart (a
    reconnecting crowd) share one read; a socket that knows of a later event
    than the kept read reaches reads again, and misses nothing."""
    from chat.realtime.consumer import _shared_reads

    room = await sync_to_async(group_room)(alice, bob, carol)
    for n in range(3):
        await sync_to_async(send)(room, bob, f"m{n}")
    first, hello = await connect(alice, "/ws/chat/?sync=1")
    seq = hello["rooms"][0]["seq"]
    second, _ = await connect(bob, "/ws/chat/?sync=1")
    reads = _shared_reads.reads

    for ws, ref in ((first, "a"), (second, "b")):
        await ws.send_json_to({"type": "sync", "ref": ref, "rooms": {str(room.pk): seq - 2}})
        seen = await frames_until(ws, lambda f: f["type"] == "ack")
        assert [f["seq"] for f in seen if f["type"] == "message.created"] == [seq - 1, seq]
    assert _shared_reads.reads == reads + 1  # bob's socket used alice's read

    await sync_to_async(send)(room, bob, "later")  # seq + 1: past what the kept read reaches
    third, hello = await connect(carol, "/ws/chat/?sync=1")
    assert hello["rooms"][0]["seq"] == seq + 1
    await third.send_json_to({"type": "sync", "ref": "c", "rooms": {str(room.pk): seq - 2}})
    seen = await frames_until(third, lambda f: f["type"] == "ack")
    assert [f["seq"] for f in seen if f["type"] == "message.created"] == [seq - 1, seq, seq + 1]
    assert _shared_reads.reads == reads + 2
    for ws in (first, second, third):
        await ws.disconnect()


async def test_a_sync_from_the_seq_this_socket_already_sent_reads_nothing(alice, bob):
    """A reconnecting client that missed nothing (its last seq is the hello's)
    is answered from the socket's own cursor, without reading the room's log;
    what comes meanwhile is held and then sent in order, once."""
    from chat.realtime.consumer import _shared_reads

    room = await sync_to_async(group_room)(alice, bob)
    ws, hello = await connect(alice, "/ws/chat/?sync=1")
    seq = hello["rooms"][0]["seq"]
    reads = _shared_reads.reads
    await sync_to_async(send)(room, bob, "while holding")
    await asyncio.sleep(0.2)
    await ws.send_json_to({"type": "sync", "ref": "s", "rooms": {str(room.pk): seq}})
    seen = await frames_until(ws, lambda f: f["type"] == "message.created")
    acks = [f for f in seen if f["type"] == "ack"]
    assert acks == [{"type": "ack", "ref": "s", "result": {"rooms": {str(room.pk): seq}}}]
    assert seen[-1]["seq"] == seq + 1 and seen[-1]["message"]["content"] == "while holding"
    assert _shared_reads.reads == reads  # no log read
    # An older seq still reads the log and replays from there.
    await ws.send_json_to({"type": "sync", "ref": "t", "rooms": {str(room.pk): seq - 1}})
    seen = await frames_until(ws, lambda f: f["type"] == "ack")
    assert [f["seq"] for f in seen if f["type"] == "message.created"] == [seq, seq + 1]
    assert seen[-1]["result"]["rooms"] == {str(room.pk): seq + 1}
    assert _shared_reads.reads == reads + 1
    await ws.disconnect()
