"""Mentions and notification rows: resolved when a message is stored or edited,
counted against read positions, and scheduled for the people they concern."""

import time

import pytest

from accounts.models import UserBlock
from chat import commands, mentions, presence, selectors
from chat.events import wire
from chat.models import (
    ChatMessage,
    MessageMention,
    Notification,
    NotificationPreferences,
    Role,
)
from chat.services import members as member_services
from chat.services import rooms as room_services
from chatsite.core.exceptions import Forbidden, Invalid

from .factories import delete, edit, group_room, mark_read, member, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """What a block schedules for after commit runs as if it committed."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def mentioned(message) -> dict:
    return {str(user_id): kind for user_id, kind in MessageMention.objects.filter(message=message).values_list("user_id", "kind")}


def rows(**filters) -> set:
    return set(Notification.objects.filter(**filters).values_list("user__username", "channel", "reason", "state"))


def counts(room, user) -> tuple[int, int]:
    (row,) = selectors.attention(user=user, room_ids=[room.pk])
    return row["unread_count"], row["mention_count"]


# --- finding mentions in text ---------------------------------------------------
@pytest.mark.parametrize(
    ("text", "names", "room", "here"),
    [
        ("hi @Bob", {"bob"}, False, False),
        ("@bob, @carol.", {"bob", "carol.", "carol"}, False, False),
        ("mail bob@example.com", set(), False, False),
        ("`@bob` and ```\n@carol\n```", set(), False, False),
        ("@room look", set(), True, False),
        ("@all: look", set(), True, False),
        ("@here!", set(), False, True),
        ("@", set(), False, False),
    ],
)
def test_find_reads_mentions_outside_code(text, names, room, here):
    found = mentions.find(text)
    assert (set(found.names), found.room, found.here) == (names, room, here)


# --- resolving them when a message is stored ----------------------------------------
def test_a_mention_of_a_member_is_kept_with_the_message_and_in_its_payload(alice, bob, carol):
    room = group_room(alice, bob, carol)
    message = send(room, alice, "@bob and @CAROL, look")
    assert mentioned(message) == {str(bob.pk): "user", str(carol.pk): "user"}
    stored = ChatMessage.objects.get(pk=message.pk)
    assert "bob" not in stored.mentions_encrypted and str(bob.pk) not in stored.mentions_encrypted  # encrypted at rest
    payload = commands.message_send(actor=alice, room_id=room.pk, content="again @bob").json
    assert wire.encode({"kind": "user", "user_id": str(bob.pk)}).encode() in payload


def test_a_mention_of_a_stranger_or_a_missing_user_or_oneself_mentions_nobody(alice, bob, carol, make_user):
    room = group_room(alice, bob)
    message = send(room, alice, "@carol @nobody @alice")  # carol is not a member
    assert mentioned(message) == {}
    assert ChatMessage.objects.get(pk=message.pk).mentions_encrypted == ""


def test_a_mention_across_a_block_mentions_nobody(alice, bob):
    room = group_room(alice, bob)
    UserBlock.objects.create(blocker=bob, blocked=alice)
    assert mentioned(send(room, alice, "@bob hello")) == {}


def test_room_mention_needs_an_owner_or_admin(alice, bob, carol):
    room = group_room(alice, bob, carol)
    with pytest.raises(Forbidden) as refused:
        send(room, bob, "@room lunch?")
    assert refused.value.code == "mention_room_forbidden"
    assert not ChatMessage.objects.filter(room=room, sender=bob).exists()  # not sent

    message = send(room, alice, "@all lunch?")
    assert mentioned(message) == {str(bob.pk): "room", str(carol.pk): "room"}
    commands.member_change_role(actor=alice, room_id=room.pk, user_id=bob.pk, role=Role.ADMIN)
    assert mentioned(send(room, bob, "@room again")) == {str(alice.pk): "room", str(carol.pk): "room"}


def test_room_mention_in_a_direct_room_is_plain_text(alice, bob):
    room, _ = room_services.room_get_or_create_direct(user=alice, other=bob)
    assert mentioned(send(room, alice, "@room hi")) == {}


def test_here_mentions_the_members_who_are_online(alice, bob, carol):
    room = group_room(alice, bob, carol)
    backend = presence.backend()
    import asyncio

    asyncio.run(backend.add(str(carol.pk), "test-channel", time.time() + 60))
    try:
        message = send(room, bob, "@here standup")
    finally:
        asyncio.run(backend.remove(str(carol.pk), "test-channel"))
    assert mentioned(message) == {str(carol.pk): "here"}


# --- counts --------------------------------------------------------------------------
def test_mention_count_follows_the_read_position(alice, bob, carol):
    room = group_room(alice, bob, carol)
    send(room, bob, "plain")
    first = send(room, bob, "@alice one")
    send(room, carol, "@alice two")
    assert counts(room, alice) == (3, 2)
    mark_read(room, alice, first.seq)
    assert counts(room, alice) == (1, 1)
    assert counts(room, carol) == (3, 0)  # bob's two and alice's "created" line


def test_direct_messages_count_as_mentions_unless_muted(alice, bob):
    room, _ = room_services.room_get_or_create_direct(user=alice, other=bob)
    send(room, bob, "one")
    send(room, bob, "two")
    assert counts(room, alice) == (2, 2)
    commands.room_notifications_update(actor=alice, room_id=room.pk, muted=True)
    assert counts(room, alice) == (2, 0)


def test_edit_adds_and_removes_mentions_and_their_notifications(alice, bob, carol):
    room = group_room(alice, bob, carol)
    message = send(room, alice, "@bob look")
    assert rows(message=message) == {("bob", "email", "mention", "pending")}
    edit(message, alice, "@carol look instead")
    assert mentioned(message) == {str(carol.pk): "user"}
    assert counts(room, bob)[1] == 0 and counts(room, carol)[1] == 1
    assert rows(message=message) == {("bob", "email", "mention", "cancelled"), ("carol", "email", "mention", "pending")}


def test_edit_announces_the_changed_counts_to_the_people_concerned(alice, bob, carol, listener, committed):
    room = group_room(alice, bob, carol)
    message = send(room, alice, "@bob look")
    listener.subscribe(wire.user_group(bob.pk), wire.user_group(carol.pk))
    with committed():
        edit(message, alice, "@carol look instead")
    frames = [frame for frame in listener.frames() if frame["type"] == wire.UNREAD]
    by_count = sorted((frame["mention_count"], frame["unread_count"]) for frame in frames)
    assert len(frames) == 2 and by_count == [(0, 2), (1, 2)]  # bob lost his mention, carol got one


def test_deleting_a_message_removes_its_mentions_from_the_counts_and_cancels_notifications(alice, bob):
    room = group_room(alice, bob)
    message = send(room, alice, "@bob look")
    delete(message, alice)
    assert counts(room, bob) == (1, 0)  # only the "created" system line is left unread
    assert rows(message=message) == {("bob", "email", "mention", "cancelled")}


def test_edit_to_room_mention_is_refused_for_a_member(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, "hello")
    with pytest.raises(Forbidden):
        edit(message, bob, "@room hello")
    assert ChatMessage.objects.get(pk=message.pk).is_edited is False


# --- who gets notification rows ---------------------------------------------------------
def test_mentions_and_direct_messages_get_push_and_email_rows_due_after_the_delay(alice, bob, carol):
    room = group_room(alice, bob, carol)
    bob.chat_push_subscriptions.create(endpoint="https://fcm.googleapis.com/fcm/send/x", p256dh="k", auth="a")
    NotificationPreferences.objects.create(user=bob, email_delay_minutes=30)
    message = send(room, alice, "@bob @carol look")
    assert rows(message=message) == {
        ("bob", "push", "mention", "pending"),
        ("bob", "email", "mention", "pending"),
        ("carol", "email", "mention", "pending"),  # no push subscription: no push row
    }
    push, email = (Notification.objects.get(message=message, user=bob, channel=c) for c in ("push", "email"))
    assert 29 * 60 < (email.due_at - push.due_at).total_seconds() <= 30 * 60

    direct, _ = room_services.room_get_or_create_direct(user=alice, other=carol)
    assert rows(message=send(direct, alice, "hi")) == {("carol", "email", "direct", "pending")}


def test_level_all_gets_push_for_every_message_but_no_email(alice, bob, carol):
    room = group_room(alice, bob, carol)
    for user in (bob, carol):
        user.chat_push_subscriptions.create(endpoint=f"https://fcm.googleapis.com/fcm/send/{user.pk}", p256dh="k", auth="a")
    commands.room_notifications_update(actor=bob, room_id=room.pk, level="all")
    assert rows(message=send(room, alice, "news")) == {("bob", "push", "message", "pending")}


@pytest.mark.parametrize("why", ["muted", "nothing", "blocked", "left", "deactivated", "email off"])
def test_nobody_is_notified_against_their_choice_or_state(why, alice, bob, carol):
    room = group_room(alice, bob, carol)
    if why == "muted":
        commands.room_notifications_update(actor=bob, room_id=room.pk, muted=True)
    elif why == "nothing":
        commands.room_notifications_update(actor=bob, room_id=room.pk, level="nothing")
    elif why == "blocked":
        UserBlock.objects.create(blocker=bob, blocked=alice)
    elif why == "left":
        member_services.room_leave(room=room, user=bob)
    elif why == "deactivated":
        commands.user_set_active(user=bob, is_active=False)
    elif why == "email off":
        commands.notification_preferences_update(actor=bob, email_enabled=False)
    message = send(room, alice, "@bob @carol look")
    assert {row[0] for row in rows(message=message)} == {"carol"}


def test_reading_cancels_what_is_pending_up_to_the_read_position(alice, bob):
    room = group_room(alice, bob)
    first = send(room, alice, "@bob one")
    second = send(room, alice, "@bob two")
    mark_read(room, bob, first.seq)
    assert rows(message=first) == {("bob", "email", "mention", "cancelled")}
    assert rows(message=second) == {("bob", "email", "mention", "pending")}


def test_muting_a_room_cancels_what_is_pending(alice, bob):
    room = group_room(alice, bob)
    message = send(room, alice, "@bob one")
    commands.room_notifications_update(actor=bob, room_id=room.pk, muted=True)
    assert rows(message=message) == {("bob", "email", "mention", "cancelled")}


# --- settings ----------------------------------------------------------------------------
def test_room_notification_settings_are_the_members_own_and_announced(alice, bob, listener, committed):
    room = group_room(alice, bob)
    listener.subscribe(wire.user_group(bob.pk))
    with committed():
        answer = commands.room_notifications_update(actor=bob, room_id=room.pk, level="all", muted=True)
    assert (answer["notify_level"], answer["notifications_muted"]) == ("all", True)
    assert member(room, bob).notify_level == "all" and member(room, alice).notify_level == ""
    (frame,) = listener.frames()
    assert frame == {"type": wire.UNREAD, **answer}
    reset = commands.room_notifications_update(actor=bob, room_id=room.pk, level="default")
    assert reset["notify_level"] == "mentions" and member(room, bob).notify_level == ""


@pytest.mark.parametrize(
    "changes",
    [{"level": "loud"}, {"muted": "yes"}],
)
def test_bad_room_notification_settings_are_refused(changes, alice, bob):
    room = group_room(alice, bob)
    with pytest.raises(Invalid):
        commands.room_notifications_update(actor=bob, room_id=room.pk, **changes)


@pytest.mark.parametrize(
    "changes",
    [{"email_delay_minutes": 0}, {"email_delay_minutes": 1441}, {"email_delay_minutes": True}, {"sound_enabled": "no"}, {"colour": 1}],
)
def test_bad_preferences_are_refused_and_change_nothing(changes, bob):
    with pytest.raises(Invalid):
        commands.notification_preferences_update(actor=bob, **changes)
    assert not NotificationPreferences.objects.filter(user=bob).exists()


def test_read_announces_the_counts_to_every_socket_of_the_reader(alice, bob, listener, committed):
    room = group_room(alice, bob)
    message = send(room, alice, "@bob hi")
    listener.subscribe(wire.user_group(bob.pk))
    with committed():
        answer = mark_read(room, bob, message.seq)
    frames = [frame for frame in listener.frames() if frame["type"] == wire.UNREAD]
    assert frames == [{"type": wire.UNREAD, **answer}]
    assert (answer["unread_count"], answer["mention_count"], answer["seq"]) == (0, 0, message.seq)


def test_counts_and_seq_come_from_one_statement(alice, bob, django_assert_num_queries):
    room = group_room(alice, bob)
    send(room, alice, "@bob hi")
    with django_assert_num_queries(1):
        (row,) = selectors.attention(user=bob)
    assert (row["unread_count"], row["mention_count"]) == (2, 1)


# --- what the review of the first version found ----------------------------------------
def test_here_without_presence_mentions_nobody_and_the_message_is_sent(alice, bob):
    room = group_room(alice, bob)
    reachable = presence._backend
    presence._backend = presence._Redis("redis://127.0.0.1:9/0", "nowhere")  # nothing listens on port 9
    try:
        message = send(room, alice, "@here anyone?")
    finally:
        presence._backend = reachable
    assert ChatMessage.objects.filter(pk=message.pk).exists() and mentioned(message) == {}


def test_an_edit_keeps_who_here_and_room_reached_and_needs_no_new_permission(alice, bob, carol):
    room = group_room(alice, bob, carol)
    commands.member_change_role(actor=alice, room_id=room.pk, user_id=bob.pk, role=Role.ADMIN)
    import asyncio

    asyncio.run(presence.backend().add(str(carol.pk), "carol-socket", time.time() + 60))
    try:
        here = send(room, bob, "@here standp")
        everyone = send(room, bob, "@room lunch at 12")
    finally:
        asyncio.run(presence.backend().remove(str(carol.pk), "carol-socket"))
    commands.member_change_role(actor=alice, room_id=room.pk, user_id=bob.pk, role=Role.MEMBER)
    edit(here, bob, "@here standup")  # carol is offline now: still hers
    edit(everyone, bob, "@room lunch at 12:30")  # a member now: the @room stays
    assert mentioned(here) == {str(carol.pk): "here"}
    assert mentioned(everyone) == {str(alice.pk): "room", str(carol.pk): "room"}
    with pytest.raises(Forbidden):
        edit(here, bob, "@room standup")  # adding @room is new: refused


def test_a_forward_mentions_nobody_again(alice, bob, carol):
    first = group_room(alice, bob, carol, name="First")
    second = group_room(bob, alice, carol, name="Second")
    original = send(first, alice, "@room and @carol: news")
    copy = commands.message_forward(actor=bob, message_id=original.pk, to_room_id=second.pk).message
    assert mentioned(copy) == {} and not Notification.objects.filter(message=copy).exists()


def test_deleting_and_restoring_a_mention_tells_the_mentioned_their_counts(alice, bob, carol, moderator, listener, committed):
    room = group_room(alice, bob, carol)
    message = send(room, alice, "@bob look")
    listener.subscribe(wire.user_group(bob.pk), wire.user_group(carol.pk))
    with committed():
        delete(message, alice)
    frames = [frame for frame in listener.frames() if frame["type"] == wire.UNREAD]
    assert [(frame["room"], frame["mention_count"]) for frame in frames] == [(str(room.pk), 0)]  # bob only
    with committed():
        commands.message_restore(actor=alice, message_id=message.pk)
    frames = [frame for frame in listener.frames() if frame["type"] == wire.UNREAD]
    assert [frame["mention_count"] for frame in frames] == [1]


@pytest.mark.postgres  # row locks
@pytest.mark.django_db(transaction=True)
def test_reading_does_not_wait_for_a_notification_the_worker_is_sending(alice, bob):
    import threading

    from django.db import connections, transaction

    room = group_room(alice, bob)
    sending = send(room, alice, "@bob one")
    waiting = send(room, alice, "@bob two")
    locked, release = threading.Event(), threading.Event()

    def worker_sending():
        try:
            with transaction.atomic():
                list(Notification.objects.filter(message=sending).select_for_update())
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=worker_sending)
    holder.start()
    try:
        assert locked.wait(5)
        reader = threading.Thread(target=lambda: (mark_read(room, bob, waiting.seq), connections.close_all()))
        reader.start()
        reader.join(5)
        assert not reader.is_alive(), "the read waited for the worker's lock"
    finally:
        release.set()
        holder.join(10)
    assert rows(message=sending) == {("bob", "email", "mention", "pending")}  # in flight: the worker checks it
    assert rows(message=waiting) == {("bob", "email", "mention", "cancelled")}
