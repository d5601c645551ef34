"""The permission matrix of membership actions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import services
from chatsite.core.exceptions import Conflict, Forbidden, Invalid, NotFound
from chat.models import AuditLog, ChatMember, ChatMessage, Role, RoomEvent
from chat.tests.factories import group_room, send


@pytest.fixture
def team(make_user):
    """A group with one person of each role, plus an outsider."""
    people = {role: make_user(username=f"{role}1") for role in ("owner", "admin", "admin2", "member", "guest", "outsider")}
    room = group_room(people["owner"], name="Team")
    for name, role in (("admin", Role.ADMIN), ("admin2", Role.ADMIN), ("member", Role.MEMBER), ("guest", Role.GUEST)):
        services.room_member_add(room=room, actor=people["owner"], user=people[name], role=role)
    return room, people


def member(room, user):
    return ChatMember.objects.get(room=room, user=user)


def later(hours=1):
    return timezone.now() + timedelta(hours=hours)


MODERATION = {
    "mute": lambda room, actor, target: services.room_member_mute(room=room, actor=actor, member=target, until=later()),
    "remove": lambda room, actor, target: services.room_member_remove(room=room, actor=actor, member=target),
    "ban": lambda room, actor, target: services.room_member_ban(room=room, actor=actor, member=target),
}

# (actor, target) -> allowed
MATRIX = [
    ("owner", "admin", True),
    ("owner", "member", True),
    ("owner", "guest", True),
    ("admin", "member", True),
    ("admin", "guest", True),
    ("admin", "admin2", False),
    ("admin", "owner", False),
    ("member", "guest", False),
    ("member", "admin", False),
    ("guest", "member", False),
]


@pytest.mark.parametrize("action", sorted(MODERATION))
@pytest.mark.parametrize("actor,target,allowed", MATRIX)
def test_moderation_matrix(team, action, actor, target, allowed):
    room, people = team
    target_member = member(room, people[target])
    before = RoomEvent.objects.filter(room=room).count()
    if allowed:
        MODERATION[action](room, people[actor], target_member)
        target_member.refresh_from_db()
        if action == "mute":
            assert target_member.muted_until is not None and target_member.is_active
        else:
            assert not target_member.is_active
            assert target_member.is_banned == (action == "ban")
        assert AuditLog.objects.filter(room=room, target_user=people[target], actor=people[actor]).exists()
        assert RoomEvent.objects.filter(room=room).count() > before
    else:
        with pytest.raises(Forbidden):
            MODERATION[action](room, people[actor], target_member)
        target_member.refresh_from_db()
        assert target_member.is_active and target_member.muted_until is None and not target_member.is_banned
        assert RoomEvent.objects.filter(room=room).count() == before


@pytest.mark.parametrize("action", sorted(MODERATION))
def test_outsider_cannot_moderate(team, action):
    room, people = team
    with pytest.raises(NotFound):
        MODERATION[action](room, people["outsider"], member(room, people["member"]))


def test_cannot_moderate_self(team):
    room, people = team
    with pytest.raises(Invalid):
        services.room_member_mute(room=room, actor=people["admin"], member=member(room, people["admin"]), until=later())


def test_mute_needs_future_time(team):
    room, people = team
    with pytest.raises(Invalid):
        services.room_member_mute(
            room=room, actor=people["owner"], member=member(room, people["member"]), until=timezone.now() - timedelta(1)
        )


def test_muted_member_cannot_send_until_unmuted_and_mute_expires(team):
    room, people = team
    target = member(room, people["member"])
    services.room_member_mute(room=room, actor=people["admin"], member=target, until=later())
    with pytest.raises(Forbidden) as exc:
        send(room, people["member"], "let me speak")
    assert exc.value.code == "muted"
    services.room_member_unmute(room=room, actor=people["admin"], member=target)
    assert send(room, people["member"], "thanks").pk
    ChatMember.objects.filter(pk=target.pk).update(muted_until=timezone.now() - timedelta(seconds=1))
    assert send(room, people["member"], "expired mute").pk


def test_banned_member_cannot_rejoin_or_be_added_until_unbanned(make_user, team):
    room, people = team
    services.room_update(room=room, actor=people["owner"], is_public=True)
    target = member(room, people["member"])
    services.room_member_ban(room=room, actor=people["owner"], member=target, reason="spam")
    with pytest.raises(Forbidden):
        services.room_join(room=room, user=people["member"])
    with pytest.raises(Forbidden) as exc:
        services.room_member_add(room=room, actor=people["owner"], user=people["member"])
    assert exc.value.code == "user_banned"
    with pytest.raises(NotFound):
        send(room, people["member"], "I'm back")
    services.room_member_unban(room=room, actor=people["owner"], member=target)
    assert services.room_join(room=room, user=people["member"]).is_active
    assert AuditLog.objects.filter(action="member.ban", reason="spam").exists()


def test_members_add_to_groups_guests_cannot(team, make_user):
    room, people = team
    newcomer, other = make_user(), make_user()
    added = services.room_member_add(room=room, actor=people["member"], user=newcomer)
    assert added.role == Role.MEMBER
    with pytest.raises(Forbidden) as exc:
        services.room_member_add(room=room, actor=people["guest"], user=other)
    assert exc.value.code == "guest_cannot_add"
    with pytest.raises(Conflict):
        services.room_member_add(room=room, actor=people["owner"], user=newcomer)
    system = ChatMessage.objects.filter(room=room, extra_metadata__event="member.added").latest("seq")
    assert system.extra_metadata["user"] == str(newcomer.pk)


def test_only_owner_grants_admin(team, make_user):
    room, people = team
    with pytest.raises(Forbidden):
        services.room_member_add(room=room, actor=people["admin"], user=make_user(), role=Role.ADMIN)
    with pytest.raises(Forbidden):
        services.room_member_change_role(
            room=room, actor=people["admin"], member=member(room, people["member"]), role=Role.ADMIN
        )
    with pytest.raises(Forbidden):
        services.room_member_change_role(
            room=room, actor=people["admin"], member=member(room, people["admin2"]), role=Role.MEMBER
        )
    changed = services.room_member_change_role(
        room=room, actor=people["owner"], member=member(room, people["member"]), role=Role.ADMIN
    )
    assert changed.role == Role.ADMIN
    assert RoomEvent.objects.filter(room=room).latest("seq").kind == "message.created"
    assert RoomEvent.objects.filter(room=room, kind="member.updated").exists()


def test_admin_switches_member_and_guest(team):
    room, people = team
    services.room_member_change_role(room=room, actor=people["admin"], member=member(room, people["member"]), role=Role.GUEST)
    assert member(room, people["member"]).role == Role.GUEST
    with pytest.raises(Forbidden):
        services.room_member_change_role(room=room, actor=people["member"], member=member(room, people["guest"]), role=Role.MEMBER)


def test_last_owner_cannot_leave_or_step_down(team):
    room, people = team
    with pytest.raises(Forbidden) as exc:
        services.room_leave(room=room, user=people["owner"])
    assert exc.value.code == "last_owner"
    with pytest.raises(Forbidden):
        services.room_member_change_role(room=room, actor=people["owner"], member=member(room, people["owner"]), role=Role.MEMBER)
    services.room_member_change_role(room=room, actor=people["owner"], member=member(room, people["admin"]), role=Role.OWNER)
    services.room_leave(room=room, user=people["owner"])
    assert not member(room, people["owner"]).is_active


def test_everyone_can_leave(team):
    room, people = team
    for name in ("admin", "member", "guest"):
        services.room_leave(room=room, user=people[name])
        assert not member(room, people[name]).is_active
    assert RoomEvent.objects.filter(room=room, kind="member.removed", payload__reason="left").count() == 3


def test_removed_member_can_be_added_back(team):
    room, people = team
    target = member(room, people["member"])
    services.room_member_remove(room=room, actor=people["owner"], member=target)
    again = services.room_member_add(room=room, actor=people["owner"], user=people["member"])
    assert again.pk == target.pk and again.is_active


def test_site_moderator_moderates_even_as_a_plain_member(team, moderator):
    room, people = team
    services.room_member_add(room=room, actor=people["owner"], user=moderator)
    target = member(room, people["admin"])
    services.room_member_mute(room=room, actor=moderator, member=target, until=later())
    target.refresh_from_db()
    assert target.muted_until is not None


def test_someone_who_left_can_still_be_banned_and_unban_is_announced(team):
    room, people = team
    services.room_leave(room=room, user=people["member"])
    target = member(room, people["member"])
    services.room_member_ban(room=room, actor=people["owner"], member=target, reason="abuse")
    target.refresh_from_db()
    assert target.is_banned and not target.is_active
    assert RoomEvent.objects.filter(room=room).latest("seq").kind in ("member.updated", "message.created")
    services.room_member_unban(room=room, actor=people["owner"], member=target)
    assert RoomEvent.objects.filter(room=room).latest("seq").kind == "member.updated"
    assert not member(room, people["member"]).is_banned
