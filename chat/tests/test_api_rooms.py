"""Rooms over REST: list, create (group, direct, support), retrieve, update,
deactivate, public rooms and join, leave, read, and events since a seq."""

import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from rest_framework.test import APIClient

from accounts.tests.factories import CompanyFactory
from chat import commands, presence
from chat.events import wire
from chat.models import ChatMember, ChatMessage, ChatRoom, Role, RoomEvent
from chat.services import attachments, members
from chat.services import rooms as room_services
from chat.tests.api_helpers import (
    assert_error,
    assert_rate_limited,
    client_for,
    png_bytes,
    upload,
)
from chat.tests.factories import group_room, reply_chain, send

ROOMS = "/api/rooms/"
ROOM_KEYS = {
    "id",
    "room_type",
    "name",
    "description",
    "avatar",
    "company",
    "created_by",
    "is_active",
    "is_public",
    "extra_metadata",
    "seq",
    "last_message_at",
    "created_at",
}
LIST_KEYS = ROOM_KEYS | {
    "my_role",
    "unread_count",
    "mention_count",
    "notify_level",
    "notify_level_is_default",
    "notifications_muted",
    "member_count",
    "last_read_seq",
    "last_message",
    "peer",
}


@pytest.fixture
def api(db):
    """``api(user)``: an APIClient authenticated as ``user``; ``api()``: anonymous."""
    return client_for


def room_url(room, suffix=""):
    room_id = room["id"] if isinstance(room, dict) else room.pk
    return f"{ROOMS}{room_id}/{suffix}"


@pytest.fixture
def team(alice, bob, carol):
    """Alice owns "Team"; Bob is an admin, Carol a member."""
    room = group_room(alice, bob, carol, name="Team")
    members.room_member_change_role(room=room, actor=alice, member=room.members.get(user=bob), role=Role.ADMIN)
    return room


@pytest.fixture
def outsider(make_user):
    return make_user(username="olga", display_name="Olga", company=CompanyFactory())


# --- List ---------------------------------------------------------------------
def test_room_list_shows_my_rooms_with_my_view_of_each(api, alice, bob, carol, make_user):
    agent = make_user(username="agent", is_support_agent=True)
    team = group_room(alice, bob, name="Team")
    send(team, bob, "first")
    last = send(team, bob, "second")
    direct, _created = room_services.room_get_or_create_direct(user=alice, other=carol)
    support, _created = room_services.room_open_support(user=alice)
    group_room(bob, carol, name="Not mine")

    response = api(alice).get(ROOMS)

    assert response.status_code == 200
    rooms = {room["id"]: room for room in response.json()}
    assert set(rooms) == {str(team.pk), str(direct.pk), str(support.pk)}
    assert all(set(room) == LIST_KEYS for room in rooms.values())
    listed = rooms[str(team.pk)]
    assert (listed["room_type"], listed["name"], listed["my_role"], listed["member_count"]) == (
        "group",
        "Team",
        "owner",
        2,
    )
    assert listed["unread_count"] == 2  # Bob's two messages; the system line is Alice's own
    assert listed["last_message"]["id"] == str(last.pk) and listed["last_message"]["content"] == "second"
    assert listed["last_message"]["sender"]["username"] == "bob"
    assert listed["seq"] == ChatRoom.objects.get(pk=team.pk).seq
    listed = rooms[str(direct.pk)]
    assert (listed["room_type"], listed["my_role"], listed["member_count"], listed["unread_count"]) == (
        "direct",
        "member",
        2,
        0,
    )
    assert listed["last_message"] is None
    assert listed["peer"]["username"] == "carol"
    assert rooms[str(team.pk)]["peer"] is None
    listed = rooms[str(support.pk)]
    assert (listed["room_type"], listed["my_role"], listed["member_count"]) == ("support", "member", 2)
    assert api(agent).get(ROOMS).json()[0]["my_role"] == "owner"
    carols_direct = next(room for room in api(carol).get(ROOMS).json() if room["id"] == str(direct.pk))
    assert carols_direct["peer"]["username"] == "alice"


def test_room_list_filters_by_type(api, alice, bob, carol):
    team = group_room(alice, bob, name="Team")
    direct, _created = room_services.room_get_or_create_direct(user=alice, other=carol)

    directs = api(alice).get(ROOMS, {"type": "direct"})
    groups = api(alice).get(ROOMS, {"type": "group"})
    companies = api(alice).get(ROOMS, {"type": "company"})

    assert [r["id"] for r in directs.json()] == [str(direct.pk)]
    assert [r["id"] for r in groups.json()] == [str(team.pk)]
    assert companies.json() == []
    assert_error(api(alice).get(ROOMS, {"type": "secret"}), 400, "invalid", fields=("type",))


def test_room_list_orders_by_latest_activity(api, alice, bob, carol):
    quiet, _created = room_services.room_get_or_create_direct(user=alice, other=carol)  # no message ever
    older = group_room(alice, bob, name="Older")
    newer = group_room(alice, carol, name="Newer")
    send(older, bob, "bumps Older to the top")

    response = api(alice).get(ROOMS)

    # A room nobody wrote in does not sort above rooms with newer activity.
    assert [(r["room_type"], r["name"]) for r in response.json()] == [
        ("group", "Older"),
        ("group", "Newer"),
        ("direct", ""),
    ]
    assert [r["id"] for r in response.json()] == [str(older.pk), str(newer.pk), str(quiet.pk)]


def test_room_list_skips_deleted_messages_in_last_message_and_unread(api, alice, bob):
    team = group_room(alice, bob, name="Team")
    kept = send(team, bob, "kept")
    gone = send(team, bob, "gone")
    commands.message_delete(actor=bob, message_id=gone.pk)

    (listed,) = api(alice).get(ROOMS).json()

    assert listed["last_message"]["id"] == str(kept.pk)
    assert listed["unread_count"] == 1


def test_room_list_leaves_out_rooms_i_left_or_was_removed_from(api, alice, bob, team):
    members.room_leave(room=team, user=bob)

    assert api(bob).get(ROOMS).json() == []
    assert [r["id"] for r in api(alice).get(ROOMS).json()] == [str(team.pk)]


def test_room_list_requires_authentication(db):
    assert_error(APIClient().get(ROOMS), 401, "not_authenticated")


def test_room_list_pages_with_a_cursor_without_gaps_or_repeats(api, alice, bob):
    rooms = [group_room(alice, bob, name=f"Room {n}") for n in range(7)]
    send(rooms[2], bob, "rooms with news come first")
    client = api(alice)

    seen, cursor, pages = [], None, 0
    while True:
        response = client.get(ROOMS, {"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        pages += 1
        seen += [room["id"] for room in response.json()]
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in response.headers
            break
        assert response.headers["Link"].endswith('>; rel="next"') and f"cursor={cursor}" in response.headers["Link"]
        assert len(response.json()) == 3

    assert pages == 3
    assert seen == [room["id"] for room in client.get(ROOMS).json()]  # one page of the default 50
    assert seen[0] == str(rooms[2].pk) and sorted(seen) == sorted(str(room.pk) for room in rooms)


def test_room_list_page_validation(api, alice):
    client = api(alice)
    assert_error(client.get(ROOMS, {"cursor": "bm90IGEgY3Vyc29y"}), 400, "invalid_cursor", fields=("cursor",))
    assert_error(client.get(ROOMS, {"cursor": "%%%"}), 400, "invalid_cursor")
    assert_error(client.get(ROOMS, {"limit": 0}), 400, "invalid", fields=("limit",))
    assert_error(client.get(ROOMS, {"limit": 501}), 400, "invalid", fields=("limit",))


@pytest.mark.parametrize("count", [5, 40])
def test_room_list_queries_do_not_grow_with_rooms(no_rate_limits, api, alice, make_user, count, django_assert_max_num_queries):
    other = make_user()
    avatar = attachments.attachment_create(uploader=alice, upload=upload("a.png", png_bytes()))
    for n in range(count):
        room = group_room(alice, other, name=f"Room {n}")
        room_services.room_update(room=room, actor=alice, avatar=avatar)
        first = send(room, other, f"hello {n}")
        commands.reaction_add(actor=alice, message_id=first.pk, reaction="👍")
        send(room, alice, f"reply {n}", reply_to=first)
    client = api(alice)

    with django_assert_max_num_queries(4):
        response = client.get(ROOMS)

    assert response.status_code == 200 and len(response.json()) == count
    assert all(room["last_message"]["reply_to"]["content"].startswith("hello") for room in response.json())
    assert all(room["avatar"]["id"] == str(avatar.pk) for room in response.json())


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/rooms/"),
        ("post", "/api/rooms/"),
        ("post", "/api/rooms/direct/"),
        ("post", "/api/rooms/support/"),
        ("get", "/api/rooms/public/"),
        ("get", "/api/rooms/{room}/"),
        ("patch", "/api/rooms/{room}/"),
        ("post", "/api/rooms/{room}/join/"),
        ("post", "/api/rooms/{room}/leave/"),
        ("post", "/api/rooms/{room}/deactivate/"),
        ("post", "/api/rooms/{room}/read/"),
        ("get", "/api/rooms/{room}/events/"),
        ("get", "/api/rooms/{room}/messages/"),
        ("post", "/api/rooms/{room}/messages/"),
        ("get", "/api/rooms/{room}/members/"),
        ("post", "/api/rooms/{room}/members/"),
        ("patch", "/api/rooms/{room}/members/{user}/"),
        ("delete", "/api/rooms/{room}/members/{user}/"),
        ("post", "/api/rooms/{room}/members/{user}/mute/"),
        ("post", "/api/rooms/{room}/members/{user}/unmute/"),
        ("post", "/api/rooms/{room}/members/{user}/ban/"),
        ("post", "/api/rooms/{room}/members/{user}/unban/"),
        ("get", "/api/messages/{message}/"),
        ("patch", "/api/messages/{message}/"),
        ("delete", "/api/messages/{message}/"),
        ("get", "/api/messages/{message}/history/"),
        ("post", "/api/messages/{message}/forward/"),
        ("get", "/api/messages/{message}/reactions/"),
        ("post", "/api/messages/{message}/reactions/"),
        ("post", "/api/messages/{message}/reactions/remove/"),
        ("get", "/api/search/"),
        ("post", "/api/attachments/"),
        ("get", "/api/attachments/{attachment}/"),
    ],
)
def test_every_chat_endpoint_requires_authentication(alice, bob, team, method, path):
    message = send(team, alice, "hello")
    attachment = attachments.attachment_create(uploader=alice, upload=upload("a.txt", b"hello"))
    url = path.format(room=team.pk, user=bob.pk, message=message.pk, attachment=attachment.pk)

    response = getattr(APIClient(), method)(url)

    assert_error(response, 401, "not_authenticated")
    assert not ChatMessage.objects.exclude(pk=message.pk).exclude(message_type="system").exists()


def test_unsupported_methods_and_unknown_paths_answer_json(api, alice, team):
    client = api(alice)
    assert_error(client.put(room_url(team), {"name": "x"}, format="json"), 405, "method_not_allowed")
    assert_error(client.delete(room_url(team)), 405, "method_not_allowed")
    assert_error(client.get(f"{ROOMS}not-a-uuid/"), 404, "not_found")
    assert_error(client.get("/api/no-such-thing/"), 404, "not_found")
    assert ChatRoom.objects.filter(pk=team.pk, is_active=True).exists()


def test_malformed_bodies_answer_json(api, alice):
    client = api(alice)
    assert_error(client.post(ROOMS, "{not json", content_type="application/json"), 400, "parse_error")
    assert_error(client.post(ROOMS, "name=Team", content_type="text/plain"), 415, "unsupported_media_type")
    assert not ChatRoom.objects.exists()


# --- Create a group -------------------------------------------------------------
def test_create_group_with_members(api, alice, bob, carol):
    response = api(alice).post(
        ROOMS,
        {"name": "Launch", "description": "Planning", "member_ids": [str(bob.pk), str(carol.pk)]},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == LIST_KEYS
    assert (body["room_type"], body["name"], body["description"], body["my_role"], body["member_count"]) == (
        "group",
        "Launch",
        "Planning",
        "owner",
        3,
    )
    assert body["is_public"] is False and body["created_by"] == str(alice.pk)
    room = ChatRoom.objects.get(pk=body["id"])
    assert dict(room.members.values_list("user__username", "role")) == {
        "alice": "owner",
        "bob": "member",
        "carol": "member",
    }
    assert body["last_message"]["message_type"] == "system"
    bobs_view = api(bob).get(room_url(body)).json()
    assert (bobs_view["my_role"], bobs_view["unread_count"]) == ("member", 1)


def test_create_group_validation(api, alice, bob):
    client = api(alice)
    assert_error(client.post(ROOMS, {}, format="json"), 400, "invalid", fields=("name",))
    assert_error(client.post(ROOMS, {"name": "   "}, format="json"), 400, fields=("name",))
    assert_error(client.post(ROOMS, {"name": "x" * 201}, format="json"), 400, "invalid", fields=("name",))
    assert_error(
        client.post(ROOMS, {"name": "A", "member_ids": ["nope"]}, format="json"), 400, "invalid", fields=("member_ids",)
    )
    assert_error(
        client.post(ROOMS, {"name": "A", "is_public": "maybe"}, format="json"), 400, "invalid", fields=("is_public",)
    )
    unknown = client.post(ROOMS, {"name": "A", "member_ids": [str(bob.pk), str(uuid.uuid4())]}, format="json")
    assert_error(unknown, 404, "user_not_found")
    assert not ChatRoom.objects.exists()


def test_create_public_group_needs_a_company(api, make_user):
    loner = make_user(company=None)

    response = api(loner).post(ROOMS, {"name": "Open", "is_public": True}, format="json")

    assert_error(response, 400, "public_needs_company")


def test_create_group_is_rate_limited(api, alice, settings):
    settings.CHAT_RATE_LIMITS = {"room.create": "2/m"}
    client = api(alice)
    assert client.post(ROOMS, {"name": "One"}, format="json").status_code == 201
    assert client.post(ROOMS, {"name": "Two"}, format="json").status_code == 201

    refused = client.post(ROOMS, {"name": "Three"}, format="json")

    assert_rate_limited(refused, kind="room.create", user=alice)
    assert not ChatRoom.objects.filter(name="Three").exists()
    # Direct and support rooms share the room.create budget.
    assert_rate_limited(client.post(f"{ROOMS}support/"), kind="room.create", user=alice, count=2)


# --- Direct and support ---------------------------------------------------------------
def test_direct_room_is_created_once_then_returned(api, alice, bob):
    created = api(alice).post(f"{ROOMS}direct/", {"user_id": str(bob.pk)}, format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["room_type"], body["member_count"], body["my_role"]) == ("direct", 2, "member")
    again = api(alice).post(f"{ROOMS}direct/", {"user_id": str(bob.pk)}, format="json")
    reverse = api(bob).post(f"{ROOMS}direct/", {"user_id": str(alice.pk)}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert reverse.status_code == 200 and reverse.json()["id"] == body["id"]
    assert ChatRoom.objects.filter(room_type="direct").count() == 1


def test_direct_room_refusals(api, alice, make_user):
    gone = make_user(is_active=False)
    client = api(alice)
    assert_error(client.post(f"{ROOMS}direct/", {"user_id": str(alice.pk)}, format="json"), 400, "direct_self")
    assert_error(client.post(f"{ROOMS}direct/", {"user_id": str(uuid.uuid4())}, format="json"), 404, "user_not_found")
    assert_error(client.post(f"{ROOMS}direct/", {"user_id": str(gone.pk)}, format="json"), 404, "user_not_found")
    assert_error(client.post(f"{ROOMS}direct/", {}, format="json"), 400, "invalid", fields=("user_id",))
    assert not ChatRoom.objects.exists()


def test_support_room_is_opened_once_with_the_agents(api, alice, make_user):
    agent = make_user(username="agent", is_support_agent=True)

    opened = api(alice).post(f"{ROOMS}support/")

    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert (body["room_type"], body["my_role"], body["member_count"]) == ("support", "member", 2)
    room = ChatRoom.objects.get(pk=body["id"])
    assert room.members.get(user=agent).role == Role.OWNER
    again = api(alice).post(f"{ROOMS}support/")
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_a_closed_support_room_makes_way_for_a_new_one(api, alice, make_user):
    agent = make_user(username="agent", is_support_agent=True)
    first = api(alice).post(f"{ROOMS}support/").json()
    closed = api(agent).post(room_url(first, "deactivate/"), {"reason": "solved"}, format="json")
    assert closed.status_code == 200 and closed.json()["is_active"] is False

    reopened = api(alice).post(f"{ROOMS}support/")

    assert reopened.status_code == 201, reopened.content
    assert reopened.json()["id"] != first["id"]


def test_company_rooms_cannot_be_left(api, alice, bob, company):
    room = room_services.room_create_company(company=company, creator=alice, name="Everyone")

    assert [r["id"] for r in api(bob).get(ROOMS, {"type": "company"}).json()] == [str(room.pk)]
    assert_error(api(bob).post(room_url(room, "leave/")), 400, "company_room_membership")
    assert ChatMember.objects.get(room=room, user=bob).is_active


# --- Retrieve -----------------------------------------------------------------------
def test_retrieve_my_room(api, alice, team):
    response = api(alice).get(room_url(team))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == LIST_KEYS
    assert (body["id"], body["name"], body["my_role"], body["member_count"]) == (str(team.pk), "Team", "owner", 3)


def test_retrieve_is_404_for_non_members_like_a_missing_room(api, outsider, bob, team):
    hidden = api(outsider).get(room_url(team))
    missing = api(outsider).get(f"{ROOMS}{uuid.uuid4()}/")

    assert assert_error(hidden, 404, "room_not_found") == assert_error(missing, 404, "room_not_found")
    members.room_leave(room=team, user=bob)
    assert_error(api(bob).get(room_url(team)), 404, "room_not_found")


# --- Update and deactivate ---------------------------------------------------------
def test_update_by_an_admin(api, bob, team):
    response = api(bob).patch(
        room_url(team), {"name": "Renamed", "description": "New", "extra_metadata": {"topic": "x"}}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["description"], body["extra_metadata"], body["my_role"]) == (
        "Renamed",
        "New",
        {"topic": "x"},
        "admin",
    )
    team.refresh_from_db()
    assert (team.name, team.description) == ("Renamed", "New")
    assert RoomEvent.objects.filter(room=team, kind=wire.ROOM_UPDATED).count() == 1


def test_update_is_refused_to_plain_members_and_hidden_from_outsiders(api, carol, outsider, team):
    assert_error(api(carol).patch(room_url(team), {"name": "Mine"}, format="json"), 403, "not_room_admin")
    assert_error(api(outsider).patch(room_url(team), {"name": "Mine"}, format="json"), 404, "room_not_found")
    team.refresh_from_db()
    assert team.name == "Team"


def test_update_validation(api, alice, bob, team):
    client = api(alice)
    assert_error(client.patch(room_url(team), {"name": ""}, format="json"), 400, "invalid", fields=("name",))
    assert_error(
        client.patch(room_url(team), {"extra_metadata": [1]}, format="json"), 400, "invalid", fields=("extra_metadata",)
    )
    assert_error(
        client.patch(room_url(team), {"avatar_id": str(uuid.uuid4())}, format="json"), 404, "attachment_not_found"
    )
    direct, _created = room_services.room_get_or_create_direct(user=alice, other=bob)
    # Nobody administers a direct room: both people are plain members.
    assert_error(client.patch(room_url(direct), {"name": "Us"}, format="json"), 403, "not_room_admin")


def test_deactivate_by_the_owner_only(api, alice, bob, carol, team):
    assert_error(api(bob).post(room_url(team, "deactivate/"), {}, format="json"), 403, "not_room_owner")
    assert_error(api(carol).post(room_url(team, "deactivate/"), {}, format="json"), 403, "not_room_owner")

    response = api(alice).post(room_url(team, "deactivate/"), {"reason": "done"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == ROOM_KEYS and body["is_active"] is False
    sent = api(bob).post(room_url(team, "messages/"), {"content": "anyone?"}, format="json")
    assert_error(sent, 403, "room_inactive")
    assert_error(api(alice).patch(room_url(team), {"name": "Back"}, format="json"), 403, "room_inactive")


def test_deactivate_is_hidden_from_outsiders(api, outsider, team):
    assert_error(api(outsider).post(room_url(team, "deactivate/"), {}, format="json"), 404, "room_not_found")
    team.refresh_from_db()
    assert team.is_active


# --- Public rooms and join -------------------------------------------------------------
def test_public_rooms_of_my_company_can_be_joined(api, alice, bob, carol, outsider):
    lobby = group_room(alice, name="Lobby", is_public=True)
    group_room(alice, name="Private")
    theirs = group_room(outsider, name="Their lobby", is_public=True)

    listed = api(carol).get(f"{ROOMS}public/")

    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()] == [str(lobby.pk)]
    assert set(listed.json()[0]) == ROOM_KEYS | {"member_count"}
    assert listed.json()[0]["member_count"] == 1
    joined = api(carol).post(room_url(lobby, "join/"))
    assert joined.status_code == 200, joined.content
    assert (joined.json()["my_role"], joined.json()["member_count"]) == ("member", 2)
    assert ChatMember.objects.get(room=lobby, user=carol).is_active
    again = api(carol).post(room_url(lobby, "join/"))
    assert again.status_code == 200 and again.json()["member_count"] == 2
    assert_error(api(carol).post(room_url(theirs, "join/")), 404, "room_not_found")
    assert [r["id"] for r in api(outsider).get(f"{ROOMS}public/").json()] == [str(theirs.pk)]


@pytest.mark.parametrize("count", [5, 40])
def test_public_room_list_queries_do_not_grow_with_rooms(api, alice, carol, count, django_assert_max_num_queries):
    for n in range(count):
        group_room(alice, name=f"Lobby {n:02}", is_public=True)
    client = api(carol)

    with django_assert_max_num_queries(2):
        response = client.get(f"{ROOMS}public/")

    assert [r["name"] for r in response.json()] == [f"Lobby {n:02}" for n in range(count)]


def test_the_directory_searches_names_and_descriptions_and_counts_who_is_in(api, alice, bob, carol):
    design = group_room(alice, bob, name="Design reviews", description="Weekly critique of mockups", is_public=True)
    group_room(alice, name="Kitchen", description="Lunch and coffee", is_public=True)
    members.room_member_remove(room=design, actor=alice, member=design.members.get(user=bob))  # left: not counted

    def names(q):
        response = api(carol).get(f"{ROOMS}public/", {"q": q})
        assert response.status_code == 200, response.content
        return [(r["name"], r["member_count"]) for r in response.json()]

    assert names("") == [("Design reviews", 1), ("Kitchen", 1)]
    assert names("design") == [("Design reviews", 1)]
    assert names("COFFEE") == [("Kitchen", 1)]  # the description, any case
    assert names("weekly mockups") == [("Design reviews", 1)]  # every word
    assert names("weekly coffee") == []
    assert_error(api(carol).get(f"{ROOMS}public/", {"q": "x" * 101}), 400, "invalid", fields=("q",))


def test_private_rooms_cannot_be_joined(api, alice, carol):
    private = group_room(alice, name="Private")

    assert_error(api(carol).post(room_url(private, "join/")), 404, "room_not_found")
    assert not ChatMember.objects.filter(room=private, user=carol).exists()


def test_banned_people_cannot_rejoin(api, alice, carol):
    lobby = group_room(alice, carol, name="Lobby", is_public=True)
    members.room_member_ban(room=lobby, actor=alice, member=lobby.members.get(user=carol))

    assert_error(api(carol).post(room_url(lobby, "join/")), 403, "banned")


def test_a_room_i_am_banned_from_is_not_offered_to_join(api, alice, carol):
    lobby = group_room(alice, carol, name="Lobby", is_public=True)
    group_room(alice, name="Open", is_public=True)
    members.room_member_ban(room=lobby, actor=alice, member=lobby.members.get(user=carol))

    assert [room["name"] for room in api(carol).get(ROOMS + "public/").json()] == ["Open"]


# --- Leave ------------------------------------------------------------------------
def test_leave(api, alice, carol, team):
    response = api(carol).post(room_url(team, "leave/"))

    assert response.status_code == 204
    assert not ChatMember.objects.get(room=team, user=carol).is_active
    assert_error(api(carol).get(room_url(team)), 404, "room_not_found")
    assert api(alice).get(room_url(team)).json()["member_count"] == 2
    assert_error(api(carol).post(room_url(team, "leave/")), 404, "room_not_found")


def test_leave_refusals(api, alice, bob, team):
    assert_error(api(alice).post(room_url(team, "leave/")), 403, "last_owner")
    direct, _created = room_services.room_get_or_create_direct(user=alice, other=bob)
    assert_error(api(alice).post(room_url(direct, "leave/")), 400, "direct_room_fixed")
    assert ChatMember.objects.get(room=team, user=alice).is_active


# --- Read -----------------------------------------------------------------------------
def test_read_sets_the_unread_count_to_zero(api, alice, bob, team):
    for n in range(3):
        send(team, bob, f"m{n}")
    client = api(alice)
    assert client.get(room_url(team)).json()["unread_count"] == 3
    seq = ChatRoom.objects.get(pk=team.pk).seq

    response = client.post(room_url(team, "read/"), {"seq": seq}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "room": str(team.pk),
        "seq": seq,
        "last_read_seq": seq,
        "unread_count": 0,
        "mention_count": 0,
        "notify_level": "mentions",
        "notify_level_is_default": True,
        "notifications_muted": False,
    }
    listed = client.get(room_url(team)).json()
    assert (listed["unread_count"], listed["last_read_seq"]) == (0, seq)
    send(team, bob, "one more")
    assert client.get(room_url(team)).json()["unread_count"] == 1


def test_read_never_goes_back_nor_past_the_room(api, alice, bob, team):
    first = send(team, bob, "one")
    send(team, bob, "two")
    client = api(alice)
    seq = ChatRoom.objects.get(pk=team.pk).seq

    ahead = client.post(room_url(team, "read/"), {"seq": seq + 1000}, format="json")
    back = client.post(room_url(team, "read/"), {"seq": first.seq}, format="json")

    assert ahead.json()["last_read_seq"] == seq
    assert (back.json()["last_read_seq"], back.json()["unread_count"]) == (seq, 0)


def test_read_validation_and_refusals(api, alice, outsider, team):
    assert_error(api(alice).post(room_url(team, "read/"), {"seq": -1}, format="json"), 400, "invalid", fields=("seq",))
    assert_error(api(alice).post(room_url(team, "read/"), {}, format="json"), 400, "invalid", fields=("seq",))
    assert_error(api(outsider).post(room_url(team, "read/"), {"seq": 1}, format="json"), 404, "room_not_found")


# --- Events since --------------------------------------------------------------------------
def test_events_since_replays_what_was_broadcast_in_order(
    api, alice, bob, carol, make_user, listener, django_capture_on_commit_callbacks
):
    room = group_room(alice, bob, name="Log")
    after = ChatRoom.objects.get(pk=room.pk).seq
    dave = make_user(username="dave")
    alice_api, bob_api = api(alice), api(bob)
    listener.subscribe(wire.room_group(room.pk))
    with django_capture_on_commit_callbacks(execute=True):
        hello = alice_api.post(room_url(room, "messages/"), {"content": "hello"}, format="json").json()
        bob_api.post(f"/api/messages/{hello['id']}/reactions/", {"reaction": "👍"}, format="json")
        alice_api.patch(f"/api/messages/{hello['id']}/", {"content": "hello all"}, format="json")
        alice_api.post(room_url(room, "members/"), {"user_id": str(dave.pk)}, format="json")
        bob_api.post(f"/api/messages/{hello['id']}/reactions/remove/", {"reaction": "👍"}, format="json")
        alice_api.patch(room_url(room), {"description": "logged"}, format="json")
        bye = bob_api.post(room_url(room, "messages/"), {"content": "bye"}, format="json").json()
        bob_api.delete(f"/api/messages/{bye['id']}/")
    broadcast = listener.frames()

    response = api(bob).get(room_url(room, "events/"), {"after": after})

    assert response.status_code == 200, response.content
    body = response.json()
    replayed = body["events"]
    logged = list(RoomEvent.objects.filter(room=room, seq__gt=after).order_by("seq").values_list("seq", "kind"))
    assert [(e["seq"], e["type"]) for e in replayed] == logged
    assert [(f["seq"], f["type"]) for f in broadcast] == logged
    assert [e["seq"] for e in replayed] == list(range(after + 1, after + 1 + len(replayed)))
    assert [e["type"] for e in replayed] == [
        "message.created",
        "reaction.added",
        "message.updated",
        "member.added",
        "message.created",
        "reaction.removed",
        "room.updated",
        "message.created",
        "message.deleted",
    ]
    assert body["seq"] == replayed[-1]["seq"] and body["has_more"] is False
    for frame, sent in zip(replayed, broadcast, strict=True):
        # Every event names its room by id; room.updated carries the room object as "room_data".
        assert frame["room"] == str(room.pk)
        if "message" in frame:
            # Replayed messages are rendered as they are now (edited, deleted).
            assert frame["message"]["id"] == sent["message"]["id"]
        else:
            assert frame == sent
    assert replayed[2]["message"]["content"] == "hello all"
    assert replayed[-1]["message"]["content"] is None and replayed[-1]["message"]["is_deleted"] is True


def test_events_since_pages_with_limit(api, alice, bob):
    room = group_room(alice, bob, name="Log")
    for n in range(4):
        send(room, bob, f"m{n}")
    total = ChatRoom.objects.get(pk=room.pk).seq

    first = api(alice).get(room_url(room, "events/"), {"after": 0, "limit": 3}).json()
    rest = api(alice).get(room_url(room, "events/"), {"after": first["events"][-1]["seq"], "limit": 500}).json()

    assert [e["seq"] for e in first["events"]] == [1, 2, 3] and first["has_more"] is True
    assert [e["seq"] for e in rest["events"]] == list(range(4, total + 1)) and rest["has_more"] is False
    empty = api(alice).get(room_url(room, "events/"), {"after": total}).json()
    assert empty == {"events": [], "has_more": False, "seq": total}


def test_events_since_a_purged_seq_requires_a_resync(api, alice, bob):
    room = group_room(alice, bob, name="Log")
    for n in range(6):
        send(room, bob, f"m{n}")
    ChatRoom.objects.filter(pk=room.pk).update(events_purged_through=5)
    RoomEvent.objects.filter(room=room, seq__lte=5).delete()
    seq = ChatRoom.objects.get(pk=room.pk).seq

    response = api(alice).get(room_url(room, "events/"), {"after": 3})

    assert response.status_code == 410, response.content
    body = response.json()
    assert body["code"] == "resync_required" and body["detail"]
    assert (body["room"], body["seq"], body["events_purged_through"]) == (str(room.pk), seq, 5)
    fine = api(alice).get(room_url(room, "events/"), {"after": 5})
    assert fine.status_code == 200 and fine.json()["events"][0]["seq"] == 6


def test_events_since_validation_and_refusals(api, alice, outsider, team):
    assert_error(api(alice).get(room_url(team, "events/")), 400, "invalid", fields=("after",))
    assert_error(api(alice).get(room_url(team, "events/"), {"after": -1}), 400, "invalid", fields=("after",))
    assert_error(api(alice).get(room_url(team, "events/"), {"after": "x"}), 400, "invalid", fields=("after",))
    assert_error(
        api(alice).get(room_url(team, "events/"), {"after": 0, "limit": 501}), 400, "invalid", fields=("limit",)
    )
    assert_error(api(outsider).get(room_url(team, "events/"), {"after": 0}), 404, "room_not_found")


@pytest.mark.parametrize("count", [5, 40])
def test_events_since_queries_do_not_grow_with_events(no_rate_limits, api, alice, bob, count, django_assert_max_num_queries):
    room = group_room(alice, bob, name="Log")
    reply_chain(room, bob, alice, count, "m{}")
    client = api(alice)

    with django_assert_max_num_queries(4):
        response = client.get(room_url(room, "events/"), {"after": 0})

    assert response.status_code == 200
    assert len(response.json()["events"]) == ChatRoom.objects.get(pk=room.pk).seq
    assert ChatMessage.objects.filter(room=room).count() == count + 1


# --- Presence ---------------------------------------------------------------------
def test_presence_of_the_members(api, alice, bob, carol, make_user, team):
    dave = make_user(username="dave")
    members.room_member_add(room=team, actor=alice, user=dave)
    backend = presence.backend()
    now = time.time()
    sockets = [(alice, "test-a", now + 60), (bob, "test-b", now + 60), (dave, "test-d", now - 1)]
    for user, channel, expiry in sockets:
        async_to_sync(backend.add)(str(user.pk), channel, expiry)
    async_to_sync(presence.set_status)(bob.pk, "away")
    try:
        response = api(carol).get(f"/api/rooms/{team.pk}/presence/")
    finally:
        for user, channel, _expiry in sockets:
            async_to_sync(backend.remove)(str(user.pk), channel)
        async_to_sync(presence.set_status)(bob.pk, "online")

    assert response.status_code == 200, response.content
    assert {item["user_id"]: item["status"] for item in response.json()} == {
        str(alice.pk): "online",
        str(bob.pk): "away",
        str(carol.pk): "offline",
        str(dave.pk): "offline",  # a socket whose refresh lapsed (its process died) does not count
    }


def test_presence_refusals_and_redis_away(api, alice, outsider, team, monkeypatch):
    assert_error(api(outsider).get(f"/api/rooms/{team.pk}/presence/"), 404, "room_not_found")
    monkeypatch.setattr(presence, "_backend", presence._Redis("redis://127.0.0.1:9/0", "chat-test"))

    assert_error(api(alice).get(f"/api/rooms/{team.pk}/presence/"), 503, "presence_unavailable")
