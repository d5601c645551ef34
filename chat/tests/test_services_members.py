"""The permission matrix of membership actions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import commands
from chat.models import AuditLog, ChatMember, ChatMessage, Role, RoomEvent
from chat.tests.factories import group_room, member, send
from chatsite.core.exceptions import Conflict, Forbidden, Invalid, NotFound


@pytest.fixture
def team(make_user):
    """A group with one person of each role, plus an outsider."""
    people = {role: make_user(username=f"{role}1") for role in ("owner", "admin", "admin2", "member", "guest", "outsider")}
    room = group_room(people["owner"], name="Team")
    for name, role in (("admin", Role.ADMIN), ("admin2", Role.ADMIN), ("member", Role.MEMBER), ("guest", Role.GUEST)):
        add(room, people["owner"], people[name], role)
    return room, people


def add(room, actor, user, role=Role.MEMBER):
    return commands.member_add(actor=actor, room_id=room.pk, user_id=user.pk, role=role)


def change_role(room, actor, user, role):
    return commands.member_change_role(actor=actor, room_id=room.pk, user_id=user.pk, role=role)


def leave(room, user):
    return commands.room_leave(actor=user, room_id=room.pk)


def later(hours=1):
    return timezone.now() + timedelta(hours=hours)


def mute(room, actor, target, until=None, **kwargs):
    return commands.member_mute(actor=actor, room_id=room.pk, user_id=target.pk, until=until or later(), **kwargs)


def remove(room, actor, target):
    return commands.member_remove(actor=actor, room_id=room.pk, user_id=target.pk)


def ban(room, actor, target, **kwargs):
    return commands.member_ban(actor=actor, room_id=room.pk, user_id=target.pk, **kwargs)


def unban(room, actor, target):
    return commands.member_unban(actor=actor, room_id=room.pk, user_id=target.pk)


MODERATION = {"mute": mute, "remove": remove, "ban": ban}

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
        MODERATION[action](room, people[actor], people[target])
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
            MODERATION[action](room, people[actor], people[target])
        target_member.refresh_from_db()
        assert target_member.is_active and target_member.muted_until is None and not target_member.is_banned
        assert RoomEvent.objects.filter(room=room).count() == before


@pytest.mark.parametrize("action", sorted(MODERATION))
def test_outsider_cannot_moderate(team, action):
    room, people = team
    with pytest.raises(NotFound):
        MODERATION[action](room, people["outsider"], people["member"])


def test_cannot_moderate_self(team):
    room, people = team
    with pytest.raises(Invalid):
        mute(room, people["admin"], people["admin"])


def test_mute_needs_future_time(team):
    room, people = team
    with pytest.raises(Invalid):
        mute(room, people["owner"], people["member"], until=timezone.now() - timedelta(1))


def test_muted_member_cannot_send_until_unmuted_and_mute_expires(team):
    room, people = team
    target = member(room, people["member"])
    mute(room, people["admin"], people["member"])
    with pytest.raises(Forbidden) as exc:
        send(room, people["member"], "let me speak")
    assert exc.value.code == "muted"
    commands.member_unmute(actor=people["admin"], room_id=room.pk, user_id=people["member"].pk)
    assert send(room, people["member"], "thanks").pk
    ChatMember.objects.filter(pk=target.pk).update(muted_until=timezone.now() - timedelta(seconds=1))
    assert send(room, people["member"], "expired mute").pk


def test_banned_member_cannot_rejoin_or_be_added_until_unbanned(make_user, team):
    room, people = team
    commands.room_update(actor=people["owner"], room_id=room.pk, is_public=True)
    ban(room, people["owner"], people["member"], reason="spam")
    with pytest.raises(Forbidden):
        commands.room_join(actor=people["member"], room_id=room.pk)
    with pytest.raises(Forbidden) as exc:
        add(room, people["owner"], people["member"])
    assert exc.value.code == "user_banned"
    with pytest.raises(NotFound):
        send(room, people["member"], "I'm back")
    unban(room, people["owner"], people["member"])
    assert commands.room_join(actor=people["member"], room_id=room.pk).is_active
    assert AuditLog.objects.filter(action="member.ban", reason="spam").exists()


def test_members_add_to_groups_guests_cannot(team, make_user):
    room, people = team
    newcomer, other = make_user(), make_user()
    added = add(room, people["member"], newcomer)
    assert added.role == Role.MEMBER
    with pytest.raises(Forbidden) as exc:
        add(room, people["guest"], other)
    assert exc.value.code == "guest_cannot_add"
    with pytest.raises(Conflict):
        add(room, people["owner"], newcomer)
    system = ChatMessage.objects.filter(room=room, extra_metadata__event="member.added").latest("seq")
    assert system.extra_metadata["user"] == str(newcomer.pk)


def test_only_owner_grants_admin(team, make_user):
    room, people = team
    with pytest.raises(Forbidden):
        add(room, people["admin"], make_user(), Role.ADMIN)
    with pytest.raises(Forbidden):
        change_role(room, people["admin"], people["member"], Role.ADMIN)
    with pytest.raises(Forbidden):
        change_role(room, people["admin"], people["admin2"], Role.MEMBER)
    changed = change_role(room, people["owner"], people["member"], Role.ADMIN)
    assert changed.role == Role.ADMIN
    assert RoomEvent.objects.filter(room=room).latest("seq").kind == "message.created"
    assert RoomEvent.objects.filter(room=room, kind="member.updated").exists()


def test_admin_switches_member_and_guest(team):
    room, people = team
    change_role(room, people["admin"], people["member"], Role.GUEST)
    assert member(room, people["member"]).role == Role.GUEST
    with pytest.raises(Forbidden):
        change_role(room, people["member"], people["guest"], Role.MEMBER)


def test_last_owner_cannot_leave_or_step_down(team):
    room, people = team
    with pytest.raises(Forbidden) as exc:
        leave(room, people["owner"])
    assert exc.value.code == "last_owner"
    with pytest.raises(Forbidden):
        change_role(room, people["owner"], people["owner"], Role.MEMBER)
    change_role(room, people["owner"], people["admin"], Role.OWNER)
    leave(room, people["owner"])
    assert not member(room, people["owner"]).is_active


def test_everyone_can_leave(team):
    room, people = team
    for name in ("admin", "member", "guest"):
        leave(room, people[name])
        assert not member(room, people[name]).is_active
    assert RoomEvent.objects.filter(room=room, kind="member.removed", payload__reason="left").count() == 3


def test_removed_member_can_be_added_back(team):
    room, people = team
    target = member(room, people["member"])
    remove(room, people["owner"], people["member"])
    again = add(room, people["owner"], people["member"])
    assert again.pk == target.pk and again.is_active


def test_site_moderator_moderates_even_as_a_plain_member(team, moderator):
    room, people = team
    add(room, people["owner"], moderator)
    target = member(room, people["admin"])
    mute(room, moderator, people["admin"])
    target.refresh_from_db()
    assert target.muted_until is not None


def test_someone_who_left_can_still_be_banned_and_unban_is_announced(team):
    room, people = team
    leave(room, people["member"])
    target = member(room, people["member"])
    ban(room, people["owner"], people["member"], reason="abuse")
    target.refresh_from_db()
    assert target.is_banned and not target.is_active
    assert RoomEvent.objects.filter(room=room).latest("seq").kind in ("member.updated", "message.created")
    unban(room, people["owner"], people["member"])
    assert RoomEvent.objects.filter(room=room).latest("seq").kind == "member.updated"
    assert not member(room, people["member"]).is_banned
