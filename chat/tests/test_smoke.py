from chat import selectors
from chat.models import RoomEvent
from chat.tests.factories import group_room, send


def test_group_room_send_and_read(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, "Hello there general Kenobi")
    room.refresh_from_db()
    assert message.seq == room.seq
    assert list(RoomEvent.objects.filter(room=room).values_list("seq", flat=True)) == list(range(1, room.seq + 1))
    assert selectors.unread_count(room=room, user=alice) == 1  # bob's message; alice's own system line is not unread
