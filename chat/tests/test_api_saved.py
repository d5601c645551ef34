"""Saved messages: a private list per person across their rooms; what is
listed while readable; the frame to the person's other sockets."""

import pytest

from chat import commands
from chat.models import RoomEvent, SavedMessage
from chat.tests.api_helpers import assert_error, client_for
from chat.tests.factories import group_room, send

pytestmark = pytest.mark.django_db


def save_url(message):
    return f"/api/messages/{message.pk}/save/"


def saved_of(user, **params):
    response = client_for(user).get("/api/saved/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_saving_across_rooms_is_private_and_newest_saved_first(alice, bob, carol):
    team = group_room(alice, bob, name="Team")
    other = group_room(alice, carol, name="Other")
    first, second = send(team, bob, "the **plan**"), send(other, carol, "the date")
    events_before = RoomEvent.objects.count()

    assert client_for(alice).post(save_url(first)).status_code == 201
    assert client_for(alice).post(save_url(first)).status_code == 200  # already saved
    assert client_for(alice).post(save_url(second)).json() == {"message_id": str(second.pk), "saved": True}

    items = saved_of(alice)
    assert [item["message"]["id"] for item in items] == [str(second.pk), str(first.pk)]
    assert items[1]["message"]["html"] == "<p>the <strong>plan</strong></p>" and items[1]["saved_at"]
    assert saved_of(bob) == []  # private to the person who saved
    assert client_for(alice).get("/api/saved/ids/").json() == [str(second.pk), str(first.pk)]
    assert RoomEvent.objects.count() == events_before  # not a room event: nobody else hears of it

    page = saved_of(alice, limit=1)
    assert [item["message"]["id"] for item in page] == [str(second.pk)]
    rest = saved_of(alice, before=page[0]["saved_at"])
    assert [item["message"]["id"] for item in rest] == [str(first.pk)]

    assert client_for(alice).delete(save_url(first)).json() == {"message_id": str(first.pk), "saved": False}
    assert client_for(alice).delete(save_url(first)).status_code == 200  # not saved: nothing to do
    assert [item["message"]["id"] for item in saved_of(alice)] == [str(second.pk)]


def test_only_readable_messages_are_saved_and_listed(alice, bob, carol):
    team = group_room(alice, bob, name="Team")
    hello, later = send(team, bob, "hello"), send(team, bob, "later")
    assert_error(client_for(carol).post(save_url(hello)), 404, "message_not_found")
    system = team.messages.filter(message_type="system").first()
    assert_error(client_for(alice).post(save_url(system)), 400, "invalid_message_type")
    assert_error(client_for(alice).post("/api/messages/not-a-uuid/save/"), 404)
    assert_error(client_for(alice).get("/api/saved/", {"limit": 0}), 400, fields=("limit",))
    assert_error(client_for(alice).get("/api/saved/", {"before": "yesterday"}), 400, fields=("before",))

    client_for(bob).post(save_url(hello))
    client_for(bob).post(save_url(later))
    commands.message_delete(actor=bob, message_id=later.pk)
    assert [item["message"]["id"] for item in saved_of(bob)] == [str(hello.pk)]  # deleted: not listed
    assert_error(client_for(bob).post(save_url(later)), 400, "message_deleted")
    commands.room_leave(actor=bob, room_id=team.pk)
    assert saved_of(bob) == []  # no longer a member: not readable, not listed
    assert SavedMessage.objects.filter(user=bob).count() == 2  # kept: back in the room, back in the list
    # Unsaving needs no access to the message any more.
    assert client_for(bob).delete(save_url(hello)).json()["saved"] is False


def test_a_person_keeps_at_most_the_limit(alice, bob, settings):
    settings.CHAT_MAX_SAVED = 2
    team = group_room(alice, bob, name="Team")
    messages = [send(team, bob, f"m{n}") for n in range(3)]
    for message in messages[:2]:
        assert client_for(alice).post(save_url(message)).status_code == 201
    assert_error(client_for(alice).post(save_url(messages[2])), 400, "too_many_saved")
    client_for(alice).delete(save_url(messages[0]))
    assert client_for(alice).post(save_url(messages[2])).status_code == 201
