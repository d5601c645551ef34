"""Pinned messages: who pins, the room's list, the logged events, the limits."""

import pytest

from chat import commands
from chat.models import ChatMessage, RoomEvent
from chat.services import rooms
from chat.tests.api_helpers import assert_error, client_for
from chat.tests.factories import group_room, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def outsider(make_user):
    from accounts.tests.factories import CompanyFactory

    return make_user(username="olga", display_name="Olga", company=CompanyFactory())


def pin_url(message):
    return f"/api/messages/{message.pk}/pin/"


def pins_of(user, room):
    response = client_for(user).get(f"/api/rooms/{room.pk}/pins/")
    assert response.status_code == 200, response.content
    return response.json()


def test_owners_pin_and_everyone_sees_the_list_and_the_events(alice, bob):
    team = group_room(alice, bob, name="Team")  # alice owns it
    first, second = send(team, bob, "the plan"), send(team, bob, "the **date**")

    assert client_for(alice).post(pin_url(first)).status_code == 201
    assert client_for(alice).post(pin_url(first)).status_code == 200  # already pinned: nothing new
    assert client_for(alice).post(pin_url(second)).json() == {"message_id": str(second.pk), "pinned": True}

    pins = pins_of(bob, team)
    assert [p["message_id"] for p in pins] == [str(second.pk), str(first.pk)]  # newest pin first
    assert pins[0]["message"]["html"] == "<p>the <strong>date</strong></p>" and pins[0]["pinned_by"]["username"] == "alice"
    events = list(RoomEvent.objects.filter(room=team, kind__in=["message.pinned", "message.unpinned"]).order_by("seq"))
    assert [(e.kind, e.payload["message_id"]) for e in events] == [("message.pinned", str(first.pk)), ("message.pinned", str(second.pk))]

    assert client_for(alice).delete(pin_url(first)).json() == {"message_id": str(first.pk), "pinned": False}
    assert client_for(alice).delete(pin_url(first)).status_code == 200  # not pinned: nothing logged
    assert [p["message_id"] for p in pins_of(bob, team)] == [str(second.pk)]
    assert RoomEvent.objects.filter(room=team, kind="message.unpinned").count() == 1


def test_who_may_pin_and_what(alice, bob, carol, outsider):
    team = group_room(alice, bob, name="Team")
    hello = send(team, bob, "hello")
    assert_error(client_for(bob).post(pin_url(hello)), 403, "not_room_admin")  # a member of a group
    assert_error(client_for(outsider).post(pin_url(hello)), 404, "message_not_found")
    assert_error(client_for(outsider).get(f"/api/rooms/{team.pk}/pins/"), 404, "room_not_found")
    system = ChatMessage.objects.filter(room=team, message_type="system").first()
    assert_error(client_for(alice).post(pin_url(system)), 400, "invalid_message_type")
    commands.message_delete(actor=bob, message_id=hello.pk)
    assert_error(client_for(alice).post(pin_url(hello)), 400, "message_deleted")

    direct, _ = rooms.room_get_or_create_direct(user=bob, other=carol)
    note = send(direct, carol, "our address")
    assert client_for(bob).post(pin_url(note)).status_code == 201  # either person of a direct room
    assert client_for(carol).delete(pin_url(note)).status_code == 200


def test_a_deleted_pinned_message_leaves_the_list_until_restored_and_the_room_holds_a_limit(alice, bob, settings):
    team = group_room(alice, bob, name="Team")
    hello, other = send(team, bob, "hello"), send(team, bob, "other")
    client_for(alice).post(pin_url(hello))
    commands.message_delete(actor=alice, message_id=hello.pk)
    assert pins_of(bob, team) == []
    commands.message_restore(actor=alice, message_id=hello.pk)
    assert [p["message_id"] for p in pins_of(bob, team)] == [str(hello.pk)]

    settings.CHAT_MAX_PINS = 1
    refused = assert_error(client_for(alice).post(pin_url(other)), 400, "too_many_pins")
    assert "at most 1 pinned" in refused["detail"]
    assert RoomEvent.objects.filter(room=team, kind="message.pinned").count() == 1  # the refused pin used no seq
