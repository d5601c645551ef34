"""Messages over REST: history by cursor, send (idempotent), reply, forward,
edit and its history, delete, reactions and search."""

import json
import uuid

import pytest

from accounts.tests.factories import CompanyFactory
from chat import commands
from chat.models import AuditLog, ChatMessage, MessageEdit, ModerationAction
from chat.services import attachments, members, rooms
from chat.tests.api_helpers import (
    assert_error,
    assert_rate_limited,
    client_for,
    png_bytes,
    upload,
)
from chat.tests.factories import group_room, reply_chain, send

MESSAGE_KEYS = {
    "id",
    "room",
    "seq",
    "sender",
    "message_type",
    "content",
    "html",
    "extra_metadata",
    "reply_to",
    "forwarded_from",
    "forwarded",
    "attachment",
    "client_msg_id",
    "is_edited",
    "edited_at",
    "is_deleted",
    "deleted_at",
    "created_at",
    "reactions",
    "mentions",
    "thread",
    "also_in_room",
    "thread_summary",
}


@pytest.fixture
def api(db):
    """``api(user)``: an APIClient authenticated as ``user``; ``api()``: anonymous."""
    return client_for


def messages_url(room):
    return f"/api/rooms/{room.pk}/messages/"


def message_url(message, suffix=""):
    message_id = message["id"] if isinstance(message, dict) else message.pk
    return f"/api/messages/{message_id}/{suffix}"


@pytest.fixture
def outsider(make_user):
    return make_user(username="olga", display_name="Olga", company=CompanyFactory())


@pytest.fixture
def team(alice, bob, carol):
    """Alice owns "Team"; Bob and Carol are members."""
    return group_room(alice, bob, carol, name="Team")


def room_messages(room):
    return list(ChatMessage.objects.filter(room=room).order_by("seq"))


# --- History ----------------------------------------------------------------------
def test_history_pages_back_and_forward_by_seq(api, alice, bob, team):
    for n in range(30):
        send(team, bob, f"m{n}")
    everything = room_messages(team)  # the system line, then m0..m29
    client = api(alice)

    newest = client.get(messages_url(team), {"limit": 10})
    older = client.get(messages_url(team), {"before": newest.json()[0]["seq"], "limit": 10})
    forward = client.get(messages_url(team), {"after": everything[0].seq, "limit": 3})
    default = client.get(messages_url(team))

    assert newest.status_code == 200
    assert all(set(m) == MESSAGE_KEYS for m in newest.json())
    assert [m["id"] for m in newest.json()] == [str(m.pk) for m in everything[-10:]]
    assert [m["content"] for m in newest.json()][-1] == "m29"
    assert [m["id"] for m in older.json()] == [str(m.pk) for m in everything[-20:-10]]
    assert [m["content"] for m in forward.json()] == ["m0", "m1", "m2"]
    assert [m["id"] for m in default.json()] == [str(m.pk) for m in everything[-31:]][-50:]
    assert len(default.json()) == 31


def test_history_validation(api, alice, team):
    client = api(alice)
    assert len(client.get(messages_url(team), {"limit": 100}).json()) == 1
    assert_error(client.get(messages_url(team), {"limit": 101}), 400, "invalid", fields=("limit",))
    assert_error(client.get(messages_url(team), {"limit": 0}), 400, "invalid", fields=("limit",))
    assert_error(client.get(messages_url(team), {"before": "x"}), 400, "invalid", fields=("before",))
    assert_error(client.get(messages_url(team), {"after": -1}), 400, "invalid", fields=("after",))
    assert_error(
        client.get(messages_url(team), {"before": 5, "after": 1}), 400, "invalid", fields=("non_field_errors",)
    )


def test_history_is_404_for_non_members(api, outsider, bob, team):
    send(team, bob, "secret")

    assert_error(api(outsider).get(messages_url(team)), 404, "room_not_found")
    assert_error(api(outsider).get(f"/api/rooms/{uuid.uuid4()}/messages/"), 404, "room_not_found")


def test_paging_back_is_stable_under_concurrent_sends(api, alice, bob, carol, team):
    for n in range(25):
        send(team, bob, f"old {n}")
    existing = [str(m.pk) for m in room_messages(team)]
    client = api(alice)
    pages, before, round_ = [], None, 0
    while True:
        query = {"limit": 10} if before is None else {"limit": 10, "before": before}
        page = client.get(messages_url(team), query).json()
        if not page:
            break
        pages.append(page)
        before = page[0]["seq"]
        # Others keep talking between page requests.
        for n in range(3):
            send(team, carol, f"new {round_}.{n}")
        round_ += 1

    seen = [m["id"] for page in reversed(pages) for m in page]
    assert len(seen) == len(set(seen)), "a message came twice"
    assert seen == existing, "paging back skipped or reordered messages"
    assert [len(p) for p in pages] == [10, 10, 6]


def test_paging_forward_is_stable_under_concurrent_sends(api, alice, bob, carol, team):
    for n in range(12):
        send(team, bob, f"old {n}")
    client = api(alice)
    seen, after, round_ = [], 0, 0
    while True:
        page = client.get(messages_url(team), {"after": after, "limit": 5}).json()
        if not page:
            break
        seen += [m["id"] for m in page]
        after = page[-1]["seq"]
        if round_ < 4:
            for n in range(2):
                send(team, carol, f"new {round_}.{n}")
        round_ += 1

    assert len(seen) == len(set(seen)), "a message came twice"
    assert seen == [str(m.pk) for m in room_messages(team)], "paging forward skipped messages"
    assert len(seen) == 1 + 12 + 8


@pytest.mark.parametrize("count", [5, 40])
def test_history_queries_do_not_grow_with_messages(no_rate_limits, api, alice, bob, count, django_assert_max_num_queries):
    room = group_room(alice, bob, name="Busy")
    image = attachments.attachment_create(uploader=bob, upload=upload("p.png", png_bytes()))
    previous = None
    for n in range(count):
        message = send(room, bob, f"m{n}", reply_to=previous, attachment=image if n % 2 else None)
        commands.reaction_add(actor=alice, message_id=message.pk, reaction="👍")
        commands.reaction_add(actor=bob, message_id=message.pk, reaction="🎉")
        previous = message
    client = api(alice)

    with django_assert_max_num_queries(4):
        response = client.get(messages_url(room), {"limit": 100})

    assert response.status_code == 200 and len(response.json()) == count + 1
    last = response.json()[-1]
    assert last["reply_to"]["content"] == f"m{count - 2}"
    assert [r["reaction"] for r in last["reactions"]] == ["👍", "🎉"]


# --- Send ----------------------------------------------------------------------------
def test_send_then_retry_with_the_same_client_msg_id(api, alice, team):
    client = api(alice)

    first = client.post(messages_url(team), {"content": "hello", "client_msg_id": "c-1"}, format="json")
    retry = client.post(messages_url(team), {"content": "hello", "client_msg_id": "c-1"}, format="json")

    assert first.status_code == 201, first.content
    body = first.json()
    assert set(body) == MESSAGE_KEYS
    assert (body["content"], body["client_msg_id"], body["message_type"], body["room"]) == (
        "hello",
        "c-1",
        "text",
        str(team.pk),
    )
    assert body["sender"] == {"id": str(alice.pk), "username": "alice", "display_name": "Alice", "avatar": None}
    assert body["is_edited"] is False and body["is_deleted"] is False and body["reactions"] == []
    assert retry.status_code == 200
    assert (retry.json()["id"], retry.json()["seq"]) == (body["id"], body["seq"])
    assert ChatMessage.objects.filter(sender=alice, client_msg_id="c-1").count() == 1
    assert ChatMessage.objects.get(pk=body["id"]).seq == body["seq"]


def test_a_client_msg_id_belongs_to_one_room(api, alice, bob, team):
    other = group_room(alice, bob, name="Other")
    client = api(alice)
    client.post(messages_url(team), {"content": "hello", "client_msg_id": "c-1"}, format="json")

    response = client.post(messages_url(other), {"content": "hello", "client_msg_id": "c-1"}, format="json")

    assert_error(response, 409, "client_msg_id_reused")
    # Another sender may use the same id.
    assert (
        api(bob).post(messages_url(team), {"content": "hi", "client_msg_id": "c-1"}, format="json").status_code == 201
    )


def test_send_validation(api, alice, team):
    client = api(alice)
    before = ChatMessage.objects.count()
    assert_error(client.post(messages_url(team), {}, format="json"), 400, "content_required", fields=("content",))
    assert_error(
        client.post(messages_url(team), {"content": "   "}, format="json"), 400, "content_required", fields=("content",)
    )
    assert_error(
        client.post(messages_url(team), {"content": ["x"]}, format="json"), 400, "invalid", fields=("content",)
    )
    too_long_id = {"content": "x", "client_msg_id": "x" * 65}
    assert_error(client.post(messages_url(team), too_long_id, format="json"), 400, "invalid", fields=("client_msg_id",))
    system = {"content": "x", "message_type": "system"}
    assert_error(client.post(messages_url(team), system, format="json"), 400, "invalid", fields=("message_type",))
    image = {"content": "x", "message_type": "image"}
    assert_error(client.post(messages_url(team), image, format="json"), 400, "attachment_required")
    metadata = {"content": "x", "extra_metadata": {"blob": "y" * 5000}}
    assert_error(client.post(messages_url(team), metadata, format="json"), 400, "extra_metadata_too_large")
    assert_error(
        client.post(messages_url(team), {"content": "x", "reply_to": "nope"}, format="json"),
        400,
        "invalid",
        fields=("reply_to",),
    )
    assert ChatMessage.objects.count() == before


def test_oversized_content_is_refused_naming_the_limit(api, alice, team, settings):
    settings.CHAT_MAX_MESSAGE_LENGTH = 20
    client = api(alice)
    assert client.post(messages_url(team), {"content": "x" * 20}, format="json").status_code == 201

    response = client.post(messages_url(team), {"content": "x" * 21}, format="json")

    body = assert_error(response, 400, "content_too_long", fields=("content",))
    assert "20" in body["detail"] and "20" in body["fields"]["content"][0]
    assert ChatMessage.objects.filter(sender=alice, message_type="text").count() == 1


def test_oversized_request_body_is_413(api, alice, team):
    body = json.dumps({"content": "x" * (300 * 1024)})

    response = api(alice).post(messages_url(team), body, content_type="application/json")

    assert_error(response, 413, "request_too_large")


def test_send_is_404_for_non_members(api, outsider, team):
    response = api(outsider).post(messages_url(team), {"content": "let me in"}, format="json")

    assert_error(response, 404, "room_not_found")
    assert not ChatMessage.objects.filter(sender__username="olga").exists()


def test_send_is_rate_limited_per_user(api, alice, bob, team, settings):
    settings.CHAT_RATE_LIMITS = {"message.send": "2/m"}
    client = api(alice)
    assert client.post(messages_url(team), {"content": "one"}, format="json").status_code == 201
    assert client.post(messages_url(team), {"content": "two"}, format="json").status_code == 201

    refused = client.post(messages_url(team), {"content": "three"}, format="json")
    assert_rate_limited(refused, kind="message.send", user=alice, room=team)
    refused_again = client.post(messages_url(team), {"content": "four"}, format="json")

    assert_rate_limited(refused_again, kind="message.send", user=alice, room=team, count=2)  # one row per window
    assert ChatMessage.objects.filter(sender=alice, message_type="text").count() == 2
    assert api(bob).post(messages_url(team), {"content": "bob has his own budget"}, format="json").status_code == 201


def test_reply(api, alice, bob, team):
    hello = send(team, alice, "hello everyone")

    response = api(bob).post(messages_url(team), {"content": "hi!", "reply_to": str(hello.pk)}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["reply_to"] == {
        "id": str(hello.pk),
        "seq": hello.seq,
        "sender": {"id": str(alice.pk), "username": "alice", "display_name": "Alice", "avatar": None},
        "content": "hello everyone",
        "is_deleted": False,
    }
    assert ChatMessage.objects.get(pk=response.json()["id"]).reply_to_id == hello.pk


def test_reply_to_a_message_of_another_room_is_refused(api, alice, bob, outsider, team):
    elsewhere = send(group_room(outsider, name="Elsewhere"), outsider, "hidden")

    response = api(bob).post(messages_url(team), {"content": "hi", "reply_to": str(elsewhere.pk)}, format="json")

    assert_error(response, 404, "reply_not_found")


def test_retrieve_a_message(api, bob, outsider, team):
    hello = send(team, bob, "hello")

    response = api(bob).get(message_url(hello))

    assert response.status_code == 200 and response.json()["content"] == "hello"
    assert_error(api(outsider).get(message_url(hello)), 404, "message_not_found")
    assert_error(api(bob).get(f"/api/messages/{uuid.uuid4()}/"), 404, "message_not_found")


# --- Forward ------------------------------------------------------------------------------
def test_forward_into_another_room_of_mine(api, alice, bob, team):
    hello = send(team, bob, "worth sharing")
    direct, _created = rooms.room_get_or_create_direct(user=alice, other=bob)
    client = api(alice)

    response = client.post(
        message_url(hello, "forward/"), {"room": str(direct.pk), "client_msg_id": "f-1"}, format="json"
    )
    retry = client.post(message_url(hello, "forward/"), {"room": str(direct.pk), "client_msg_id": "f-1"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["room"], body["content"], body["forwarded_from"], body["sender"]["username"]) == (
        str(direct.pk),
        "worth sharing",
        str(hello.pk),
        "alice",
    )
    assert body["forwarded"] == {"sender": body["forwarded"]["sender"], "room": str(team.pk)}
    assert body["forwarded"]["sender"]["username"] == "bob"  # who wrote the original
    assert retry.status_code == 200 and retry.json()["id"] == body["id"]
    assert ChatMessage.objects.filter(forwarded_from=hello).count() == 1
    in_history = api(bob).get(messages_url(direct)).json()
    assert [m["forwarded"]["sender"]["username"] for m in in_history if m["forwarded"]] == ["bob"]
    assert all(m["forwarded"] is None for m in in_history if not m["forwarded_from"])


def test_forward_refusals(api, alice, bob, carol, outsider, team):
    hello = send(team, bob, "hello")
    elsewhere = group_room(outsider, name="Elsewhere")
    hidden = send(elsewhere, outsider, "hidden")
    client = api(alice)
    assert_error(
        client.post(message_url(hello, "forward/"), {"room": str(elsewhere.pk)}, format="json"), 404, "room_not_found"
    )
    assert_error(
        client.post(message_url(hidden, "forward/"), {"room": str(team.pk)}, format="json"), 404, "message_not_found"
    )
    assert_error(client.post(message_url(hello, "forward/"), {}, format="json"), 400, "invalid", fields=("room",))
    system = ChatMessage.objects.get(room=team, message_type="system")
    assert_error(
        client.post(message_url(system, "forward/"), {"room": str(team.pk)}, format="json"), 400, "invalid_message_type"
    )
    commands.message_delete(actor=bob, message_id=hello.pk)
    assert_error(
        client.post(message_url(hello, "forward/"), {"room": str(team.pk)}, format="json"), 400, "message_deleted"
    )
    assert not ChatMessage.objects.filter(forwarded_from__isnull=False).exists()


# --- Edit --------------------------------------------------------------------------------
def test_edit_my_message_and_read_its_history(api, alice, bob, team):
    hello = send(team, alice, "helo")
    client = api(alice)

    first = client.patch(message_url(hello), {"content": "hello"}, format="json")
    second = client.patch(message_url(hello), {"content": "hello world"}, format="json")

    assert first.status_code == 200, first.content
    body = second.json()
    assert (body["content"], body["is_edited"], body["id"], body["seq"]) == (
        "hello world",
        True,
        str(hello.pk),
        hello.seq,
    )
    assert body["edited_at"]
    history = api(bob).get(message_url(hello, "history/"))
    assert history.status_code == 200
    assert [(h["content"], h["edited_by"]) for h in history.json()] == [
        ("helo", str(alice.pk)),
        ("hello", str(alice.pk)),
    ]
    assert all(h["replaced_at"] for h in history.json())
    assert api(bob).get(message_url(hello)).json()["content"] == "hello world"


def test_edit_refusals(api, alice, bob, outsider, team, settings):
    settings.CHAT_MAX_MESSAGE_LENGTH = 10
    hello = send(team, alice, "hello")
    system = ChatMessage.objects.get(room=team, message_type="system")
    assert_error(api(bob).patch(message_url(hello), {"content": "mine now"}, format="json"), 403, "not_sender")
    assert_error(api(alice).patch(message_url(system), {"content": "rewritten"}, format="json"), 403, "not_sender")
    assert_error(api(outsider).patch(message_url(hello), {"content": "x"}, format="json"), 404, "message_not_found")
    assert_error(api(outsider).get(message_url(hello, "history/")), 404, "message_not_found")
    assert_error(api(alice).patch(message_url(hello), {}, format="json"), 400, "invalid", fields=("content",))
    too_long = api(alice).patch(message_url(hello), {"content": "x" * 11}, format="json")
    assert "10" in assert_error(too_long, 400, "content_too_long", fields=("content",))["detail"]
    commands.message_delete(actor=alice, message_id=hello.pk)
    assert_error(api(alice).patch(message_url(hello), {"content": "back"}, format="json"), 400, "message_deleted")
    assert not MessageEdit.objects.exists()


# --- Delete --------------------------------------------------------------------------------
def test_delete_my_message_is_soft(api, alice, bob, team):
    hello = send(team, alice, "oops")
    commands.message_edit(actor=alice, message_id=hello.pk, content="oops!")

    response = api(alice).delete(message_url(hello))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["is_deleted"], body["content"]) == (str(hello.pk), True, None)
    assert body["deleted_at"]
    assert api(bob).get(message_url(hello)).json()["content"] is None
    in_history = [m for m in api(bob).get(messages_url(team)).json() if m["id"] == str(hello.pk)]
    assert in_history[0]["content"] is None and in_history[0]["is_deleted"] is True
    assert [h["content"] for h in api(bob).get(message_url(hello, "history/")).json()] == [None]
    assert ChatMessage.objects.filter(pk=hello.pk, is_deleted=True).exists()  # still in the table
    assert api(alice).delete(message_url(hello)).status_code == 200  # idempotent


def test_owner_deletes_anyones_message_and_it_is_audited(api, alice, bob, team):
    hello = send(team, bob, "spam")

    response = api(alice).delete(message_url(hello))

    assert response.status_code == 200 and response.json()["is_deleted"] is True
    assert AuditLog.objects.filter(action=ModerationAction.MESSAGE_DELETE, target_message=hello, actor=alice).exists()


def test_delete_refusals(api, alice, bob, carol, outsider, team):
    hello = send(team, bob, "mine")

    assert_error(api(carol).delete(message_url(hello)), 403, "not_sender")
    assert_error(api(outsider).delete(message_url(hello)), 404, "message_not_found")
    assert_error(api(carol).delete(f"/api/messages/{uuid.uuid4()}/"), 404, "message_not_found")
    assert not ChatMessage.objects.get(pk=hello.pk).is_deleted


def test_the_sender_may_undo_a_delete_for_a_short_while(api, bob, carol, team, settings):
    hello = send(team, bob, "oops, **not** that")
    api(bob).delete(message_url(hello))

    assert_error(api(carol).post(message_url(hello, "restore/")), 403, "not_room_admin")
    response = api(bob).post(message_url(hello, "restore/"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["is_deleted"], body["content"], body["html"]) == (False, "oops, **not** that", "<p>oops, <strong>not</strong> that</p>")
    assert not AuditLog.objects.filter(action=ModerationAction.MESSAGE_RESTORE).exists()  # an undo, not moderation
    assert api(bob).post(message_url(hello, "restore/")).status_code == 200  # Undo twice: nothing more to do
    assert_error(api(carol).post(message_url(hello, "restore/")), 403, "not_room_admin")  # not hers to restore, live or not

    settings.CHAT_UNDO_DELETE_SECONDS = 0
    api(bob).delete(message_url(hello))
    late = assert_error(api(bob).post(message_url(hello, "restore/")), 403, "undo_expired")
    assert "0 seconds" in late["detail"]
    assert ChatMessage.objects.get(pk=hello.pk).is_deleted


def test_room_admins_restore_any_deleted_message_and_it_is_audited(api, alice, bob, outsider, team):
    hello = send(team, bob, "rude")
    api(alice).delete(message_url(hello))  # deleted by the owner: not bob's own delete to undo

    assert_error(api(bob).post(message_url(hello, "restore/")), 403, "not_room_admin")
    assert_error(api(outsider).post(message_url(hello, "restore/")), 404, "message_not_found")
    response = api(alice).post(message_url(hello, "restore/"))

    assert response.status_code == 200 and response.json()["is_deleted"] is False
    assert AuditLog.objects.filter(action=ModerationAction.MESSAGE_RESTORE, target_message=hello, actor=alice).exists()


# --- Reactions -------------------------------------------------------------------------------
def test_reactions_add_count_and_remove(api, alice, bob, carol, team):
    hello = send(team, carol, "hello")

    added = api(alice).post(message_url(hello, "reactions/"), {"reaction": "👍"}, format="json")
    again = api(alice).post(message_url(hello, "reactions/"), {"reaction": "👍"}, format="json")
    api(bob).post(message_url(hello, "reactions/"), {"reaction": "👍"}, format="json")
    api(bob).post(message_url(hello, "reactions/"), {"reaction": "🎉"}, format="json")

    assert added.status_code == 201, added.content
    assert added.json() == [{"reaction": "👍", "count": 1, "user_ids": [str(alice.pk)], "me": True}]
    assert again.status_code == 200 and again.json()[0]["count"] == 1
    as_alice = api(alice).get(message_url(hello, "reactions/")).json()
    as_carol = api(carol).get(message_url(hello, "reactions/")).json()
    assert [(r["reaction"], r["count"], r["me"]) for r in as_alice] == [("👍", 2, True), ("🎉", 1, False)]
    assert [(r["reaction"], r["count"], r["me"]) for r in as_carol] == [("👍", 2, False), ("🎉", 1, False)]
    in_history = [m for m in api(carol).get(messages_url(team)).json() if m["id"] == str(hello.pk)][0]
    assert [(r["reaction"], r["count"]) for r in in_history["reactions"]] == [("👍", 2), ("🎉", 1)]

    removed = api(alice).post(message_url(hello, "reactions/remove/"), {"reaction": "👍"}, format="json")

    assert removed.status_code == 200
    assert [(r["reaction"], r["count"], r["me"]) for r in removed.json()] == [("👍", 1, False), ("🎉", 1, False)]
    none_left = api(alice).post(message_url(hello, "reactions/remove/"), {"reaction": "👍"}, format="json")
    assert none_left.status_code == 200 and none_left.json() == removed.json()


def test_reaction_validation_and_refusals(api, alice, outsider, team):
    hello = send(team, alice, "hello")
    client = api(alice)
    assert_error(client.post(message_url(hello, "reactions/"), {}, format="json"), 400, "invalid", fields=("reaction",))
    assert_error(
        client.post(message_url(hello, "reactions/"), {"reaction": "x" * 33}, format="json"),
        400,
        "invalid",
        fields=("reaction",),
    )
    assert_error(
        client.post(message_url(hello, "reactions/"), {"reaction": "a b"}, format="json"),
        400,
        "invalid_reaction",
        fields=("reaction",),
    )
    assert_error(
        api(outsider).post(message_url(hello, "reactions/"), {"reaction": "👍"}, format="json"),
        404,
        "message_not_found",
    )
    assert_error(api(outsider).get(message_url(hello, "reactions/")), 404, "message_not_found")
    assert_error(
        api(outsider).post(message_url(hello, "reactions/remove/"), {"reaction": "👍"}, format="json"),
        404,
        "message_not_found",
    )
    commands.message_delete(actor=alice, message_id=hello.pk)
    assert_error(
        client.post(message_url(hello, "reactions/"), {"reaction": "👍"}, format="json"), 400, "message_deleted"
    )
    assert not hello.reactions.exists()


def test_reactions_are_rate_limited(api, alice, team, settings):
    settings.CHAT_RATE_LIMITS = {"reaction": "2/m"}
    hello = send(team, alice, "hello")
    client = api(alice)
    assert client.post(message_url(hello, "reactions/"), {"reaction": "a"}, format="json").status_code == 201
    assert client.post(message_url(hello, "reactions/"), {"reaction": "b"}, format="json").status_code == 201

    refused = client.post(message_url(hello, "reactions/"), {"reaction": "c"}, format="json")

    assert_rate_limited(refused, kind="reaction", user=alice, room=team)
    assert sorted(hello.reactions.values_list("reaction", flat=True)) == ["a", "b"]


# --- Search ----------------------------------------------------------------------------------
def test_search_finds_words_by_their_start_in_my_rooms_only(api, alice, bob, outsider, team):
    other = group_room(alice, bob, name="Other")
    older = send(team, bob, "The quarterly report is due")
    newer = send(other, alice, "REPORT quarterly, please!")
    send(team, bob, "the report alone")
    send(group_room(outsider, name="Elsewhere"), outsider, "quarterly report")

    found = api(alice).get("/api/search/", {"q": "Quarterly report"})
    in_room = api(alice).get("/api/search/", {"q": "quarterly report", "room": str(team.pk)})

    assert found.status_code == 200, found.content
    assert [m["id"] for m in found.json()] == [str(newer.pk), str(older.pk)]
    assert set(found.json()[0]) == MESSAGE_KEYS and found.json()[0]["content"] == "REPORT quarterly, please!"
    assert [m["id"] for m in in_room.json()] == [str(older.pk)]
    assert api(outsider).get("/api/search/", {"q": "quarterly report"}).json()[0]["room"] != str(team.pk)
    assert [m["id"] for m in api(alice).get("/api/search/", {"q": "quarter rep"}).json()] == [str(newer.pk), str(older.pk)]
    assert api(alice).get("/api/search/", {"q": "uarterly"}).json() == []  # the start of a word, not its middle


def test_search_follows_edits_and_deletes(api, alice, team):
    hello = send(team, alice, "pineapple pizza")
    gone = send(team, alice, "pineapple juice")
    commands.message_edit(actor=alice, message_id=hello.pk, content="mango pizza")
    commands.message_delete(actor=alice, message_id=gone.pk)

    assert api(alice).get("/api/search/", {"q": "pineapple"}).json() == []
    assert [m["id"] for m in api(alice).get("/api/search/", {"q": "mango"}).json()] == [str(hello.pk)]


def test_search_forgets_rooms_i_left(api, alice, bob, team):
    send(team, alice, "farewell party")
    assert len(api(bob).get("/api/search/", {"q": "farewell"}).json()) == 1

    members.room_leave(room=team, user=bob)

    assert api(bob).get("/api/search/", {"q": "farewell"}).json() == []


def test_search_validation_and_refusals(api, alice, outsider, team):
    elsewhere = group_room(outsider, name="Elsewhere")
    client = api(alice)
    assert_error(client.get("/api/search/"), 400, "invalid", fields=("q",))
    assert_error(client.get("/api/search/", {"q": "  !! "}), 400, "query_required", fields=("q",))
    assert_error(client.get("/api/search/", {"q": "x", "limit": 101}), 400, "invalid", fields=("limit",))
    assert_error(client.get("/api/search/", {"q": "x", "room": "nope"}), 400, "invalid", fields=("room",))
    assert_error(client.get("/api/search/", {"q": "x", "room": str(elsewhere.pk)}), 404, "room_not_found")


@pytest.mark.parametrize("count", [5, 40])
def test_search_queries_do_not_grow_with_results(no_rate_limits, api, alice, bob, count, django_assert_max_num_queries):
    room = group_room(alice, bob, name="Busy")
    reply_chain(room, bob, alice, count, "needle number {}")

    # (In one room, first my membership of it.) My rooms, the word's index
    # entries newest first (its prefix digest, then its whole-word digest),
    # those messages checked, their rows with relations, the reactions of the
    # page: the same for 5 results or 40.
    for scope, queries in (({}, 6), ({"room": str(room.pk)}, 7)):  # everywhere, then in the room
        with django_assert_max_num_queries(queries):
            found = api(alice).get("/api/search/", {"q": "needle", "limit": 100, **scope})
        assert len(found.json()) == count
        assert found.json()[0]["reactions"][0]["count"] == 1
