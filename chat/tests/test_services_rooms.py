import pytest

from accounts import services as account_services
from accounts.models import User
from chat import commands
from chat.events import wire
from chat.models import ChatMember, ChatMessage, ChatRoom, Role, RoomEvent, RoomType
from chat.policies import is_site_moderator
from chat.tests.factories import group_room, mark_read, send
from chatsite.core.exceptions import Conflict, Forbidden, Invalid, NotFound


def active_member_ids(room):
    return set(ChatMember.objects.filter(room=room, is_active=True).values_list("user_id", flat=True))


def kinds(room):
    return list(RoomEvent.objects.filter(room=room).order_by("seq").values_list("kind", flat=True))


def direct(user, other):
    return commands.room_get_or_create_direct(actor=user, user_id=other.pk)


def test_group_room_makes_creator_owner_and_logs_members_then_system_message(alice, bob, carol):
    room = commands.room_create_group(actor=alice, name="  Falcon  ", member_ids=[bob.pk, carol.pk])
    assert room.room_type == RoomType.GROUP and room.name == "Falcon"
    roles = dict(ChatMember.objects.filter(room=room).values_list("user__username", "role"))
    assert roles == {"alice": Role.OWNER, "bob": Role.MEMBER, "carol": Role.MEMBER}
    assert kinds(room) == ["member.added"] * 3 + ["message.created"]
    system = ChatMessage.objects.get(room=room)
    assert system.message_type == "system" and system.extra_metadata["event"] == "room.created"
    assert room.seq == 4


def test_group_room_rejects_blank_and_overlong_names(alice):
    with pytest.raises(Invalid) as blank:
        group_room(alice, name="   ")
    assert blank.value.code == "name_required"
    with pytest.raises(Invalid) as long:
        group_room(alice, name="x" * 201)
    assert long.value.code == "name_too_long"
    assert not ChatRoom.objects.exists()


def test_group_room_member_limit(alice, bob, carol, settings):
    settings.CHAT_MAX_ROOM_MEMBERS = 2
    with pytest.raises(Invalid) as exc:
        group_room(alice, bob, carol)
    assert exc.value.code == "room_full"
    room = group_room(alice, bob)
    with pytest.raises(Invalid):
        commands.member_add(actor=alice, room_id=room.pk, user_id=carol.pk, role=Role.MEMBER)


def test_public_group_can_be_joined_within_company_only(alice, bob, make_user):
    room = group_room(alice, name="Random", is_public=True)
    member = commands.room_join(actor=bob, room_id=room.pk)
    assert member.is_active and member.role == Role.MEMBER
    assert commands.room_join(actor=bob, room_id=room.pk).pk == member.pk  # joining twice is one membership
    outsider = make_user(company=None)
    with pytest.raises(NotFound):
        commands.room_join(actor=outsider, room_id=room.pk)


def test_private_group_cannot_be_joined(alice, bob):
    room = group_room(alice, name="Secret")
    with pytest.raises(NotFound):
        commands.room_join(actor=bob, room_id=room.pk)
    assert bob.pk not in active_member_ids(room)


def test_public_room_needs_company(make_user):
    loner = make_user(company=None)
    with pytest.raises(Invalid) as exc:
        group_room(loner, is_public=True)
    assert exc.value.code == "public_needs_company"


def test_direct_room_is_one_per_pair(alice, bob):
    room, created = direct(alice, bob)
    again, created_again = direct(bob, alice)
    assert created and not created_again and again.pk == room.pk
    assert active_member_ids(room) == {alice.pk, bob.pk}
    assert ChatRoom.objects.filter(room_type=RoomType.DIRECT).count() == 1


def test_direct_room_refuses_self_and_blocked(alice, bob, carol):
    with pytest.raises(Invalid):
        direct(alice, alice)
    account_services.user_block(blocker=bob, blocked=alice)
    with pytest.raises(Forbidden) as exc:
        direct(alice, bob)
    assert exc.value.code == "blocked"
    with pytest.raises(Forbidden):
        direct(bob, alice)
    account_services.user_unblock(blocker=bob, blocked=alice)
    room, created = direct(alice, bob)
    assert created


def test_blocked_user_cannot_send_to_existing_direct_room(alice, bob):
    room, _ = direct(alice, bob)
    send(room, alice, "hi")
    account_services.user_block(blocker=bob, blocked=alice)
    with pytest.raises(Forbidden) as exc:
        send(room, alice, "are you there?")
    assert exc.value.code == "blocked"
    assert ChatMessage.objects.filter(room=room).count() == 1


def test_direct_room_membership_is_fixed(alice, bob, carol):
    room, _ = direct(alice, bob)
    with pytest.raises(Invalid):
        commands.member_add(actor=alice, room_id=room.pk, user_id=carol.pk, role=Role.MEMBER)
    with pytest.raises(Invalid):
        commands.room_leave(actor=alice, room_id=room.pk)
    with pytest.raises((Invalid, Forbidden)):
        commands.member_remove(actor=alice, room_id=room.pk, user_id=bob.pk)
    assert active_member_ids(room) == {alice.pk, bob.pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_direct_room_calls_give_one_room(alice, bob, concurrently):
    def open_room(i):
        room, created = direct(*((alice, bob) if i % 2 else (bob, alice)))
        return room.pk, created

    results = concurrently(8, open_room)
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert ChatRoom.objects.filter(room_type=RoomType.DIRECT).count() == 1
    assert ChatMember.objects.filter(room_id=results[0][0]).count() == 2


def test_company_room_includes_everyone_and_new_joiners(company, alice, bob, make_user):
    outsider = make_user(company=None)
    room = commands.room_create_company(actor=alice, company=company, name="General")
    assert active_member_ids(room) == {alice.pk, bob.pk}
    assert ChatMember.objects.get(room=room, user=alice).role == Role.OWNER
    commands.user_set_company(user=outsider, company=company)
    assert outsider.pk in active_member_ids(room)
    assert ChatMessage.objects.filter(room=room, extra_metadata__event="member.joined").count() == 1
    with pytest.raises(Invalid):
        commands.room_leave(actor=bob, room_id=room.pk)


def test_company_room_only_by_people_of_the_company(company, make_user):
    outsider = make_user(company=None)
    with pytest.raises(Forbidden):
        commands.room_create_company(actor=outsider, company=company, name="General")


def test_support_room_has_requester_and_agents_and_is_one_per_person(alice, make_user):
    agent = make_user(username="agent", is_support_agent=True)
    room, created = commands.room_open_support(actor=alice)
    again, created_again = commands.room_open_support(actor=alice)
    assert created and not created_again and again.pk == room.pk
    roles = dict(ChatMember.objects.filter(room=room).values_list("user_id", "role"))
    assert roles == {alice.pk: Role.MEMBER, agent.pk: Role.OWNER}
    commands.room_deactivate(actor=agent, room_id=room.pk)
    new_room, created = commands.room_open_support(actor=alice)
    assert created and new_room.pk != room.pk
    with pytest.raises(Conflict):
        commands.room_reactivate(actor=agent, room_id=room.pk)


def test_room_update_by_admin_emits_room_updated(alice, bob, listener, django_capture_on_commit_callbacks):
    room = group_room(alice, bob)
    listener.subscribe(wire.room_group(room.pk))
    with pytest.raises(Forbidden):
        commands.room_update(actor=bob, room_id=room.pk, name="Hijacked")
    with django_capture_on_commit_callbacks(execute=True):
        commands.room_update(actor=alice, room_id=room.pk, name="Renamed", description="About")
    room.refresh_from_db()
    assert (room.name, room.description) == ("Renamed", "About")
    assert kinds(room)[-1] == "room.updated"
    assert [f["room_data"]["name"] for f in listener.frames() if f["type"] == "room.updated"] == ["Renamed"]


def test_only_owner_deactivates(alice, bob):
    room = group_room(alice, bob)
    commands.member_change_role(actor=alice, room_id=room.pk, user_id=bob.pk, role=Role.ADMIN)
    with pytest.raises(Forbidden) as exc:
        commands.room_deactivate(actor=bob, room_id=room.pk)
    assert exc.value.code == "not_room_owner"
    commands.room_deactivate(actor=alice, room_id=room.pk)
    room.refresh_from_db()
    assert not room.is_active
    with pytest.raises(Forbidden) as inactive:
        send(room, bob, "anyone?")
    assert inactive.value.code == "room_inactive"


def test_site_moderator_can_deactivate_any_room(alice, moderator):
    assert is_site_moderator(moderator)
    room = group_room(alice)
    commands.room_deactivate(actor=moderator, room_id=room.pk, reason="spam")
    room.refresh_from_db()
    assert not room.is_active


def test_non_member_learns_nothing(alice, bob, carol):
    room = group_room(alice, bob)
    for call in (
        lambda: commands.room_update(actor=carol, room_id=room.pk, name="x"),
        lambda: send(room, carol, "hi"),
        lambda: commands.member_add(actor=carol, room_id=room.pk, user_id=carol.pk, role=Role.MEMBER),
        lambda: commands.room_leave(actor=carol, room_id=room.pk),
        lambda: mark_read(room, carol, 1),
    ):
        with pytest.raises(NotFound):
            call()


def test_user_count_unchanged_by_failed_services(alice, bob):
    before = User.objects.count()
    with pytest.raises(Invalid):
        group_room(alice, name="")
    assert User.objects.count() == before


def test_moving_company_leaves_the_old_company_rooms(company, alice, bob):
    from accounts.tests.factories import CompanyFactory

    old_room = commands.room_create_company(actor=alice, company=company, name="Old")
    commands.user_set_company(user=bob, company=CompanyFactory())
    assert bob.pk not in active_member_ids(old_room)
    assert RoomEvent.objects.filter(room=old_room, kind="member.removed", payload__reason="left_company").exists()


def test_new_support_agent_joins_open_support_rooms(alice, make_user):
    room, _ = commands.room_open_support(actor=alice)
    newcomer = make_user(username="newagent")
    commands.user_set_support_agent(user=newcomer, is_support_agent=True)
    member = ChatMember.objects.get(room=room, user=newcomer)
    assert member.is_active and member.role == Role.OWNER
    assert RoomEvent.objects.filter(room=room, kind="member.added", payload__member__user__id=str(newcomer.pk)).exists()


def test_room_names_lose_their_bidi_controls(alice, bob):
    room = group_room(alice, bob, name="Team\u202egnp.exe")
    assert room.name == "Teamgnp.exe"
    updated = commands.room_update(actor=alice, room_id=room.pk, name="\u2067Plans\u2069")
    assert updated.name == "Plans"
    with pytest.raises(Invalid):
        group_room(alice, bob, name="\u202e\u202c")  # nothing left: blank
