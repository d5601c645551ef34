"""Room members over REST: list, add, change role, remove, mute, unmute, ban, unban."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import CompanyFactory
from chat.events import wire
from chat.models import AuditLog, ChatMember, ModerationAction, Role, RoomEvent
from chat.services import members, rooms
from chat.tests.api_helpers import (
    assert_error,
    assert_rate_limited,
    client_for,
    parse_time,
)
from chat.tests.factories import group_room

MEMBER_KEYS = {"id", "room", "user", "role", "is_active", "is_banned", "muted_until", "last_read_seq", "joined_at"}


@pytest.fixture
def api(db):
    """``api(user)``: an APIClient authenticated as ``user``; ``api()``: anonymous."""
    return client_for


def members_url(room, user=None, suffix=""):
    base = f"/api/rooms/{room.pk}/members/"
    return base if user is None else f"{base}{user.pk}/{suffix}"


@pytest.fixture
def dave(make_user):
    return make_user(username="dave", display_name="Dave")


@pytest.fixture
def outsider(make_user):
    return make_user(username="olga", display_name="Olga", company=CompanyFactory())


@pytest.fixture
def team(alice, bob, carol):
    """Alice owns "Team"; Bob is an admin, Carol a member."""
    room = group_room(alice, bob, carol, name="Team")
    members.room_member_change_role(room=room, actor=alice, member=room.members.get(user=bob), role=Role.ADMIN)
    return room


def member(room, user):
    return ChatMember.objects.get(room=room, user=user)


# --- List -----------------------------------------------------------------------
def test_list_members(api, alice, bob, carol, team):
    response = api(carol).get(members_url(team))

    assert response.status_code == 200
    body = response.json()
    assert all(set(item) == MEMBER_KEYS for item in body)
    assert [(m["user"]["username"], m["role"]) for m in body] == [
        ("alice", "owner"),
        ("bob", "admin"),
        ("carol", "member"),
    ]
    assert body[0]["user"] == {"id": str(alice.pk), "username": "alice", "display_name": "Alice", "avatar": None}
    assert all(m["room"] == str(team.pk) and m["is_active"] and not m["is_banned"] for m in body)


def test_list_leaves_out_people_who_left(api, alice, carol, team):
    members.room_leave(room=team, user=carol)

    assert [m["user"]["username"] for m in api(alice).get(members_url(team)).json()] == ["alice", "bob"]


def test_moderators_list_banned_people_to_unban_them(api, alice, bob, carol, dave, team):
    members.room_member_add(room=team, actor=alice, user=dave)
    members.room_member_ban(room=team, actor=alice, member=member(team, carol))
    members.room_leave(room=team, user=dave)

    plain = api(bob).get(members_url(team)).json()
    with_banned = api(bob).get(members_url(team) + "?include=banned").json()

    assert [m["user"]["username"] for m in plain] == ["alice", "bob"]
    assert [(m["user"]["username"], m["is_banned"]) for m in with_banned] == [
        ("alice", False),
        ("bob", False),
        ("carol", True),  # banned; Dave, who just left, is not listed
    ]


def test_only_moderators_list_banned_people(api, alice, carol, team):
    assert_error(api(carol).get(members_url(team) + "?include=banned"), 403, "not_room_admin")
    assert_error(api(alice).get(members_url(team) + "?include=everyone"), 400, "invalid", fields=("include",))


def test_list_is_404_for_non_members(api, outsider, team):
    assert_error(api(outsider).get(members_url(team)), 404, "room_not_found")


@pytest.mark.parametrize("count", [5, 40])
def test_list_queries_do_not_grow_with_members(api, alice, make_user, count, django_assert_max_num_queries):
    room = group_room(alice, *[make_user() for _ in range(count - 1)], name="Big")
    client = api(alice)

    with django_assert_max_num_queries(3):
        response = client.get(members_url(room))

    assert response.status_code == 200 and len(response.json()) == count


# --- Add ------------------------------------------------------------------------------
def test_add_a_member(api, alice, dave, team):
    response = api(alice).post(members_url(team), {"user_id": str(dave.pk)}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == MEMBER_KEYS
    assert (body["user"]["username"], body["role"], body["is_active"], body["room"]) == (
        "dave",
        "member",
        True,
        str(team.pk),
    )
    assert member(team, dave).is_active
    assert RoomEvent.objects.filter(room=team, kind=wire.MEMBER_ADDED).count() == 4
    assert api(dave).get(f"/api/rooms/{team.pk}/").status_code == 200


def test_plain_members_may_add_to_a_group(api, carol, dave, team):
    response = api(carol).post(members_url(team), {"user_id": str(dave.pk)}, format="json")

    assert response.status_code == 201, response.content


def test_add_with_a_role(api, alice, bob, dave, make_user, team):
    admin = api(alice).post(members_url(team), {"user_id": str(dave.pk), "role": "admin"}, format="json")

    assert admin.status_code == 201 and admin.json()["role"] == "admin"
    # Only the owner makes admins.
    erin = make_user(username="erin")
    refused = api(bob).post(members_url(team), {"user_id": str(erin.pk), "role": "admin"}, format="json")
    assert_error(refused, 403, "not_room_owner")
    assert not ChatMember.objects.filter(room=team, user=erin).exists()


def test_add_someone_already_a_member_is_a_conflict(api, alice, carol, team):
    response = api(alice).post(members_url(team), {"user_id": str(carol.pk)}, format="json")

    assert_error(response, 409, "already_member")


def test_add_refusals(api, alice, carol, dave, outsider, team):
    guest_room = group_room(alice, carol, name="Guests")
    members.room_member_change_role(room=guest_room, actor=alice, member=member(guest_room, carol), role=Role.GUEST)
    assert_error(
        api(carol).post(members_url(guest_room), {"user_id": str(dave.pk)}, format="json"), 403, "guest_cannot_add"
    )
    assert_error(api(outsider).post(members_url(team), {"user_id": str(dave.pk)}, format="json"), 404, "room_not_found")
    assert_error(
        api(alice).post(members_url(team), {"user_id": str(uuid.uuid4())}, format="json"), 404, "user_not_found"
    )
    assert not ChatMember.objects.filter(user=dave).exists()


def test_add_validation(api, alice, dave, team):
    client = api(alice)
    assert_error(client.post(members_url(team), {}, format="json"), 400, "invalid", fields=("user_id",))
    assert_error(
        client.post(members_url(team), {"user_id": "dave"}, format="json"), 400, "invalid", fields=("user_id",)
    )
    bad_role = client.post(members_url(team), {"user_id": str(dave.pk), "role": "king"}, format="json")
    assert_error(bad_role, 400, "invalid", fields=("role",))


def test_add_to_a_direct_room_is_refused(api, alice, bob, dave):
    direct, _created = rooms.room_get_or_create_direct(user=alice, other=bob)

    response = api(alice).post(members_url(direct), {"user_id": str(dave.pk)}, format="json")

    assert_error(response, 400, "direct_room_fixed")


def test_member_changes_are_rate_limited(api, alice, dave, make_user, team, settings):
    settings.CHAT_RATE_LIMITS = {"member": "1/m"}
    client = api(alice)
    assert client.post(members_url(team), {"user_id": str(dave.pk)}, format="json").status_code == 201
    erin = make_user(username="erin")

    refused = client.post(members_url(team), {"user_id": str(erin.pk)}, format="json")

    assert_rate_limited(refused, kind="member", user=alice, room=team)
    assert not ChatMember.objects.filter(user=erin).exists()


# --- Change role ------------------------------------------------------------------------
def test_owner_changes_roles(api, alice, bob, carol, team):
    promoted = api(alice).patch(members_url(team, carol), {"role": "admin"}, format="json")
    demoted = api(alice).patch(members_url(team, bob), {"role": "guest"}, format="json")

    assert promoted.status_code == 200, promoted.content
    assert (promoted.json()["user"]["username"], promoted.json()["role"]) == ("carol", "admin")
    assert demoted.status_code == 200 and demoted.json()["role"] == "guest"
    assert (member(team, carol).role, member(team, bob).role) == (Role.ADMIN, Role.GUEST)
    assert AuditLog.objects.filter(action=ModerationAction.MEMBER_ROLE, room=team).count() == 3  # with the fixture's


def test_admin_switches_members_and_guests_only(api, alice, bob, carol, team):
    guest = api(bob).patch(members_url(team, carol), {"role": "guest"}, format="json")

    assert guest.status_code == 200 and guest.json()["role"] == "guest"
    assert_error(api(bob).patch(members_url(team, carol), {"role": "admin"}, format="json"), 403, "not_room_owner")
    assert_error(api(bob).patch(members_url(team, alice), {"role": "member"}, format="json"), 403, "not_room_owner")
    assert member(team, alice).role == Role.OWNER


def test_change_role_refusals(api, alice, carol, dave, outsider, team):
    assert_error(api(carol).patch(members_url(team, carol), {"role": "admin"}, format="json"), 403, "not_room_owner")
    assert_error(api(outsider).patch(members_url(team, carol), {"role": "guest"}, format="json"), 404, "room_not_found")
    assert_error(api(alice).patch(members_url(team, dave), {"role": "guest"}, format="json"), 404, "member_not_found")
    assert_error(
        api(alice).patch(members_url(team, carol), {"role": "king"}, format="json"), 400, "invalid", fields=("role",)
    )
    assert_error(api(alice).patch(members_url(team, carol), {}, format="json"), 400, "invalid", fields=("role",))
    assert_error(api(alice).patch(members_url(team, alice), {"role": "member"}, format="json"), 403, "last_owner")
    assert (member(team, carol).role, member(team, alice).role) == (Role.MEMBER, Role.OWNER)


def test_plain_member_cannot_demote_another_member(api, alice, carol, dave, team):
    members.room_member_add(room=team, actor=alice, user=dave)

    response = api(carol).patch(members_url(team, dave), {"role": "guest"}, format="json")

    assert_error(response, 403, "not_room_admin")
    assert member(team, dave).role == Role.MEMBER


# --- Remove ---------------------------------------------------------------------------------
def test_remove_a_member(api, alice, carol, team):
    response = api(alice).delete(members_url(team, carol))

    assert response.status_code == 204
    assert not member(team, carol).is_active
    assert_error(api(carol).get(f"/api/rooms/{team.pk}/"), 404, "room_not_found")
    assert [m["user"]["username"] for m in api(alice).get(members_url(team)).json()] == ["alice", "bob"]
    assert_error(api(alice).delete(members_url(team, carol)), 404, "member_not_found")


def test_remove_refusals(api, alice, bob, carol, outsider, team):
    assert_error(api(carol).delete(members_url(team, bob)), 403, "not_room_admin")
    assert_error(api(bob).delete(members_url(team, alice)), 403, "insufficient_role")
    assert_error(api(alice).delete(members_url(team, alice)), 400, "self_action")
    assert_error(api(outsider).delete(members_url(team, carol)), 404, "room_not_found")
    assert ChatMember.objects.filter(room=team, is_active=True).count() == 3


# --- Mute and unmute ------------------------------------------------------------------------
def test_mute_for_minutes_then_unmute(api, alice, bob, carol, team):
    before = timezone.now()

    response = api(bob).post(members_url(team, carol, "mute/"), {"minutes": 10, "reason": "cool off"}, format="json")

    assert response.status_code == 200, response.content
    until = parse_time(response.json()["muted_until"])
    assert before + timedelta(minutes=10) <= until <= timezone.now() + timedelta(minutes=10)
    assert member(team, carol).muted_until == until
    sent = api(carol).post(f"/api/rooms/{team.pk}/messages/", {"content": "hey"}, format="json")
    assert_error(sent, 403, "muted")

    unmuted = api(bob).post(members_url(team, carol, "unmute/"), {}, format="json")

    assert unmuted.status_code == 200 and unmuted.json()["muted_until"] is None
    assert member(team, carol).muted_until is None
    assert api(carol).post(f"/api/rooms/{team.pk}/messages/", {"content": "hey"}, format="json").status_code == 201


def test_mute_until_a_time(api, alice, carol, team):
    until = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)

    response = api(alice).post(members_url(team, carol, "mute/"), {"until": until.isoformat()}, format="json")

    assert response.status_code == 200, response.content
    assert parse_time(response.json()["muted_until"]) == until
    assert member(team, carol).muted_until == until


def test_mute_validation(api, alice, carol, team):
    client = api(alice)
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    future = (timezone.now() + timedelta(minutes=5)).isoformat()
    assert_error(
        client.post(members_url(team, carol, "mute/"), {}, format="json"), 400, "invalid", fields=("non_field_errors",)
    )
    both = client.post(members_url(team, carol, "mute/"), {"minutes": 5, "until": future}, format="json")
    assert_error(both, 400, "invalid", fields=("non_field_errors",))
    assert_error(
        client.post(members_url(team, carol, "mute/"), {"minutes": 0}, format="json"),
        400,
        "invalid",
        fields=("minutes",),
    )
    assert_error(
        client.post(members_url(team, carol, "mute/"), {"until": "soon"}, format="json"),
        400,
        "invalid",
        fields=("until",),
    )
    assert_error(
        client.post(members_url(team, carol, "mute/"), {"until": past}, format="json"), 400, "invalid_mute_until"
    )
    assert member(team, carol).muted_until is None


def test_mute_until_in_the_past_names_the_until_field(api, alice, carol, team):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()

    response = api(alice).post(members_url(team, carol, "mute/"), {"until": past}, format="json")

    # A 400 about one input says which (the issue: "plus field errors on 400").
    assert_error(response, 400, "invalid_mute_until", fields=("until",))


def test_mute_refusals(api, alice, bob, carol, outsider, team):
    assert_error(api(carol).post(members_url(team, bob, "mute/"), {"minutes": 5}, format="json"), 403, "not_room_admin")
    assert_error(
        api(bob).post(members_url(team, alice, "mute/"), {"minutes": 5}, format="json"), 403, "insufficient_role"
    )
    assert_error(
        api(outsider).post(members_url(team, carol, "mute/"), {"minutes": 5}, format="json"), 404, "room_not_found"
    )
    members.room_member_mute(
        room=team, actor=alice, member=member(team, carol), until=timezone.now() + timedelta(hours=1)
    )
    assert_error(api(carol).post(members_url(team, carol, "unmute/"), {}, format="json"), 400, "self_action")
    assert_error(api(outsider).post(members_url(team, carol, "unmute/"), {}, format="json"), 404, "room_not_found")
    assert member(team, bob).muted_until is None and member(team, alice).muted_until is None
    assert member(team, carol).muted_until is not None


# --- Ban and unban --------------------------------------------------------------------------
def test_ban_then_unban(api, alice, bob, carol, team):
    response = api(bob).post(members_url(team, carol, "ban/"), {"reason": "spam"}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["is_banned"], response.json()["is_active"]) == (True, False)
    assert_error(api(carol).get(f"/api/rooms/{team.pk}/"), 404, "room_not_found")
    assert_error(api(alice).post(members_url(team), {"user_id": str(carol.pk)}, format="json"), 403, "user_banned")
    assert_error(api(alice).post(members_url(team, carol, "ban/"), {}, format="json"), 404, "member_not_found")
    assert AuditLog.objects.filter(action=ModerationAction.MEMBER_BAN, target_user=carol, reason="spam").exists()

    unbanned = api(alice).post(members_url(team, carol, "unban/"), {}, format="json")

    assert unbanned.status_code == 200, unbanned.content
    assert (unbanned.json()["is_banned"], unbanned.json()["is_active"]) == (False, False)
    assert_error(api(carol).get(f"/api/rooms/{team.pk}/"), 404, "room_not_found")  # not a member again by itself
    assert api(alice).post(members_url(team), {"user_id": str(carol.pk)}, format="json").status_code == 201


def test_ban_refusals(api, alice, bob, carol, outsider, team):
    assert_error(api(carol).post(members_url(team, bob, "ban/"), {}, format="json"), 403, "not_room_admin")
    assert_error(api(bob).post(members_url(team, alice, "ban/"), {}, format="json"), 403, "insufficient_role")
    assert_error(api(outsider).post(members_url(team, carol, "ban/"), {}, format="json"), 404, "room_not_found")
    assert_error(api(alice).post(members_url(team, alice, "ban/"), {}, format="json"), 400, "self_action")
    assert not ChatMember.objects.filter(room=team, is_banned=True).exists()


def test_unban_refusals(api, alice, bob, carol, outsider, team):
    assert_error(api(alice).post(members_url(team, carol, "unban/"), {}, format="json"), 404, "ban_not_found")
    members.room_member_ban(room=team, actor=alice, member=member(team, carol))
    assert_error(api(outsider).post(members_url(team, carol, "unban/"), {}, format="json"), 404, "room_not_found")
    assert api(bob).post(members_url(team, carol, "unban/"), {}, format="json").status_code == 200
    members.room_member_ban(room=team, actor=alice, member=member(team, carol))
    members.room_member_change_role(room=team, actor=alice, member=member(team, bob), role=Role.MEMBER)
    assert_error(api(bob).post(members_url(team, carol, "unban/"), {}, format="json"), 403, "not_room_admin")
    assert member(team, carol).is_banned
