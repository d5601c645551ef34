"""Threads over REST and the WebSocket: replying, the thread page, follow,
read positions, the Threads list, and resuming across replies with sync."""

import pytest
from channels.db import database_sync_to_async as sync_to_async

from chat import commands
from chat.models import ChatMessage
from chat.tests.api_helpers import assert_error, client_for
from chat.tests.factories import group_room, send
from chat.tests.test_consumer import connect, frames_until

THREADS = "/api/threads/"


@pytest.fixture
def api(db):
    return client_for


def thread_url(root, tail=""):
    return f"/api/messages/{root.pk}/thread/{tail}"


def post_reply(client, root, content, **extra):
    return client.post(f"/api/rooms/{root.room_id}/messages/", {"content": content, "thread": str(root.pk), **extra}, format="json")


@pytest.mark.django_db
def test_reply_over_rest_and_read_the_thread_in_pages(api, alice, bob, no_rate_limits):
    room = group_room(alice, bob)
    root = send(room, alice, "plan?")
    client = api(bob)
    sent = [post_reply(client, root, f"reply {n}") for n in range(5)]
    assert all(response.status_code == 201 for response in sent)
    assert sent[0].json()["thread"] == str(root.pk) and sent[0].json()["also_in_room"] is False

    page = api(alice).get(thread_url(root), {"limit": 3}).json()
    assert page["root"]["id"] == str(root.pk) and page["root"]["thread_summary"]["reply_count"] == 5
    assert [r["content"] for r in page["replies"]] == ["reply 2", "reply 3", "reply 4"]
    assert (page["following"], page["unread_count"]) == (True, 5)
    earlier = api(alice).get(thread_url(root), {"before": page["replies"][0]["seq"]}).json()
    assert [r["content"] for r in earlier["replies"]] == ["reply 0", "reply 1"]
    history = api(alice).get(f"/api/rooms/{room.pk}/messages/").json()
    assert all(m["thread"] is None for m in history)
    assert [m for m in history if m["id"] == str(root.pk)][0]["thread_summary"]["participants"][0]["id"] == str(bob.pk)


@pytest.mark.django_db
def test_bad_threads_get_clear_codes(api, alice, bob, carol):
    room = group_room(alice, bob)
    root = send(room, alice, "plan?")
    answer = post_reply(api(bob), root, "yes").json()
    assert_error(post_reply(api(bob), ChatMessage.objects.get(pk=answer["id"]), "nested"), 400, "not_a_thread_root")
    other = group_room(carol, alice, name="Other")
    assert_error(
        api(alice).post(f"/api/rooms/{other.pk}/messages/", {"content": "x", "thread": str(root.pk)}, format="json"),
        404,
        "thread_not_found",
    )
    assert_error(api(carol).get(thread_url(root)), 404, "thread_not_found")
    assert_error(api(carol).post(f"/api/messages/{root.pk}/follow/"), 404, "thread_not_found")
    assert_error(api(bob).post(thread_url(root, "read/"), {"seq": "x"}, format="json"), 400, fields=("seq",))
    assert_error(api(bob).get(thread_url(root), {"before": 3, "after": 1}), 400)
    assert_error(
        api(bob).post(f"/api/rooms/{room.pk}/messages/", {"content": "x", "thread": "nope"}, format="json"), 400, fields=("thread",)
    )


@pytest.mark.django_db
def test_follow_unfollow_read_and_the_threads_list(api, alice, bob, carol):
    room = group_room(alice, bob, carol)
    root = send(room, alice, "plan?")
    post_reply(api(bob), root, "yes")
    carol_client = api(carol)
    assert carol_client.get(THREADS).json() == []
    followed = carol_client.post(f"/api/messages/{root.pk}/follow/").json()
    assert (followed["following"], followed["unread_count"]) == (True, 1)
    listed = carol_client.get(THREADS).json()
    assert [(item["root"]["id"], item["unread_count"], item["room"]["id"]) for item in listed] == [(str(root.pk), 1, str(room.pk))]
    assert carol_client.get(THREADS + "unread/").json() == {"threads": 1, "replies": 1}
    seq = ChatMessage.objects.filter(thread=root).latest("seq").seq
    read = carol_client.post(thread_url(root, "read/"), {"seq": seq}, format="json").json()
    assert (read["last_read_seq"], read["unread_count"]) == (seq, 0)
    assert carol_client.get(THREADS + "unread/").json() == {"threads": 0, "replies": 0}
    assert carol_client.delete(f"/api/messages/{root.pk}/follow/").json()["following"] is False
    assert carol_client.get(THREADS).json() == []


@pytest.mark.django_db(transaction=True)
async def test_reply_over_the_websocket_and_resume_across_replies_edits_and_summaries_exactly_once(alice, bob, no_rate_limits):
    room = await sync_to_async(group_room)(alice, bob)
    root = await sync_to_async(send)(room, alice, "plan?")
    ws_b, _ = await connect(bob)
    await ws_b.send_json_to({"type": "message.send", "ref": 1, "room": str(room.pk), "content": "yes", "thread": str(root.pk)})
    ack = (await frames_until(ws_b, lambda f: f["type"] == "ack"))[-1]
    assert ack["result"]["message"]["thread"] == str(root.pk)
    await ws_b.disconnect()

    await sync_to_async(room.refresh_from_db)()
    last_seen = room.seq
    answer = await sync_to_async(commands.message_send)(actor=alice, room_id=room.pk, content="no", thread_id=root.pk)
    await sync_to_async(commands.message_edit)(actor=alice, message_id=answer.message.pk, content="no!")
    ws, _ = await connect(bob, "/ws/chat/?sync=1")
    await ws.send_json_to({"type": "sync", "ref": "s", "rooms": {str(room.pk): last_seen}})
    seen = await frames_until(ws, lambda f: f["type"] == "ack" and f["ref"] == "s")
    logged = [f for f in seen if f["type"] in ("message.created", "message.updated", "thread.updated")]
    assert [f["type"] for f in logged] == ["message.created", "thread.updated", "message.updated"]
    assert [f["seq"] for f in logged] == [last_seen + 1, last_seen + 2, last_seen + 3]
    assert logged[1]["summary"]["reply_count"] == 2 and logged[2]["message"]["content"] == "no!"
    assert await ws.receive_nothing(timeout=0.3)

    await ws.send_json_to({"type": "thread.read", "ref": "t", "room": str(room.pk), "thread": str(root.pk), "seq": last_seen + 3})
    read = (await frames_until(ws, lambda f: f["type"] == "ack" and f["ref"] == "t"))[-1]
    assert read["result"]["unread_count"] == 0
    await ws.send_json_to({"type": "thread.read", "ref": "u", "room": str(room.pk), "thread": "nope", "seq": 1})
    error = (await frames_until(ws, lambda f: f["type"] == "error"))[-1]
    assert error["ref"] == "u" and error["code"] == "invalid"
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_typing_in_a_thread_names_the_thread_and_ends_on_its_own_there(alice, bob, monkeypatch):
    from chat.realtime import consumer

    monkeypatch.setattr(consumer, "TYPING_TTL", 0.3)
    room = await sync_to_async(group_room)(alice, bob)
    root = await sync_to_async(send)(room, alice, "plan?")
    ws_a, _ = await connect(alice)
    ws_b, _ = await connect(bob)
    await ws_a.send_json_to({"type": "typing", "room": str(room.pk), "thread": str(root.pk), "is_typing": True})
    typing = (await frames_until(ws_b, lambda f: f["type"] == "typing"))[-1]
    assert (typing["thread"], typing["is_typing"]) == (str(root.pk), True)
    await ws_a.send_json_to({"type": "typing", "room": str(room.pk), "is_typing": True})  # the room: its own notice
    in_room = (await frames_until(ws_b, lambda f: f["type"] == "typing"))[-1]
    assert (in_room["thread"], in_room["is_typing"]) == (None, True)
    ended = await frames_until(ws_b, lambda f: f["type"] == "typing" and not f["is_typing"], timeout=3)
    ended += await frames_until(ws_b, lambda f: f["type"] == "typing" and not f["is_typing"], timeout=3)
    assert {f["thread"] for f in ended if not f["is_typing"]} == {str(root.pk), None}
    await ws_a.send_json_to({"type": "typing", "ref": 9, "room": str(room.pk), "thread": "nope"})
    error = (await frames_until(ws_a, lambda f: f["type"] == "error"))[-1]
    assert error["ref"] == 9 and error["code"] == "invalid"
    await ws_a.disconnect()
    await ws_b.disconnect()


@pytest.mark.django_db
def test_a_threads_cursor_too_far_is_a_bad_cursor(api, alice):
    import base64

    far = base64.urlsafe_b64encode(b"100000000000000000000").decode().rstrip("=")
    assert_error(api(alice).get(THREADS, {"cursor": far}), 400, "invalid_cursor")
    assert_error(api(alice).get(THREADS, {"cursor": "%%%"}), 400, "invalid_cursor")
