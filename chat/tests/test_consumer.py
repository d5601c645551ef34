"""The WebSocket consumer, through the real ASGI stack (auth middleware included)."""

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator

from accounts import tickets
from chat import services
from chat.models import ChatMember, ChatMessage
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


async def test_hello_lists_rooms_with_seq(alice, bob):
    room = await sync_to_async(group_room)(alice, bob)
    ws, hello = await connect(alice)
    assert hello["user"]["id"] == str(alice.pk)
    assert hello["rooms"] == [{"id": str(room.pk), "seq": room.seq}]
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
    member = await sync_to_async(ChatMember.objects.get)(room=room, user=bob)
    await sync_to_async(services.room_member_remove)(room=room, actor=alice, member=member)
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
    await sync_to_async(services.room_member_add)(room=room, actor=alice, user=carol)
    seen = await frames_until(ws_c, lambda f: f["type"] == "message.created")
    assert seen[0]["type"] == "member.added"
    await sync_to_async(send)(room, bob, "welcome carol")
    seen = await frames_until(ws_c, lambda f: f["type"] == "message.created" and f["message"]["content"] == "welcome carol")
    await ws_c.disconnect()
