import pytest

from chat import commands, selectors
from chat.tests.factories import group_room, send
from chatsite.core.exceptions import NotFound


def test_room_list_annotations_and_order(alice, bob, carol, django_assert_max_num_queries):
    quiet = group_room(alice, bob, name="Quiet")
    busy = group_room(alice, carol, name="Busy")
    send(busy, carol, "one")
    last = send(busy, carol, "two")
    commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
    with django_assert_max_num_queries(2):
        rooms = list(selectors.room_list_for_user(user=alice))
        latest = selectors.last_messages(rooms)
    by_name = {r.name: r for r in rooms}
    assert rooms[0].room_type == "direct"  # created last, so the newest activity
    assert by_name["Busy"].unread_count == 2 and by_name["Busy"].member_count == 2
    assert by_name["Quiet"].unread_count == 0 and by_name["Quiet"].my_role == "owner"
    assert latest[busy.pk].pk == last.pk
    assert [r.room_type for r in selectors.room_list_for_user(user=alice, room_type="direct")] == ["direct"]
    assert quiet.pk in {r.pk for r in rooms}


def test_room_list_query_count_does_not_grow(alice, make_user, django_assert_max_num_queries):
    for n in range(15):
        room = group_room(alice, make_user(), name=f"R{n}")
        send(room, alice, f"hello {n}")
    with django_assert_max_num_queries(2):
        rooms = list(selectors.room_list_for_user(user=alice))
        selectors.last_messages(rooms)
    assert len(rooms) == 15


def test_history_pages_by_seq(alice, bob):
    room = group_room(alice, bob)
    sent = [send(room, bob, f"m{n}") for n in range(10)]
    newest = selectors.message_list(room=room, limit=3)
    assert [m.pk for m in newest] == [m.pk for m in sent[-3:]]
    older = selectors.message_list(room=room, before=newest[0].seq, limit=3)
    assert [m.pk for m in older] == [m.pk for m in sent[-6:-3]]
    forward = selectors.message_list(room=room, after=sent[0].seq, limit=2)
    assert [m.pk for m in forward] == [m.pk for m in sent[1:3]]


def test_room_get_for_member_hides_other_rooms(alice, carol):
    room = group_room(alice)
    assert selectors.room_get_for_member(room_id=room.pk, user=alice).pk == room.pk
    with pytest.raises(NotFound):
        selectors.room_get_for_member(room_id=room.pk, user=carol)
