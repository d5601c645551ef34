"""Each logged event kind: its payload, its broadcast only after commit, and its replay."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from chat import events, selectors, services
from chat.models import ChatMember, Role
from chat.tests.factories import group_room, send
from conftest import GroupListener


@pytest.fixture
def room(alice, bob):
    return group_room(alice, bob)


def _only(frames, kind):
    matching = [f for f in frames if f["type"] == kind]
    assert len(matching) == 1, frames
    return matching[0]


def test_message_created_is_broadcast_only_after_commit(room, bob, listener, django_capture_on_commit_callbacks):
    listener.subscribe(events.room_group(room.pk))
    with django_capture_on_commit_callbacks() as callbacks:
        message = send(room, bob, "after commit", client_msg_id="k1")
        assert listener.frames(timeout=0.1) == []  # nothing before the commit
    for callback in callbacks:
        callback()
    frame = _only(listener.frames(), "message.created")
    assert frame["room"] == str(room.pk) and frame["seq"] == message.seq
    assert frame["message"]["content"] == "after commit"
    assert frame["message"]["client_msg_id"] == "k1"
    assert frame["message"]["sender"]["username"] == "bob"


@pytest.mark.django_db(transaction=True)
def test_nothing_is_broadcast_on_rollback(alice, bob, listener):
    room = group_room(alice, bob)
    listener.subscribe(events.room_group(room.pk))
    listener.receive_all(timeout=0.1)
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            send(room, bob, "never happened")
            raise RuntimeError("boom")
    assert listener.frames() == []
    room.refresh_from_db()
    assert room.messages.count() == 1  # only the room-created line


@pytest.mark.django_db(transaction=True)
def test_broadcast_happens_on_real_commit(alice, bob, listener):
    room = group_room(alice, bob)
    listener.subscribe(events.room_group(room.pk))
    listener.receive_all(timeout=0.1)
    send(room, bob, "committed")
    assert _only(listener.frames(), "message.created")["message"]["content"] == "committed"


def capture(listener, django_capture_on_commit_callbacks, action, *groups):
    listener.subscribe(*groups)
    with django_capture_on_commit_callbacks(execute=True):
        result = action()
    return result, listener.frames()


def test_message_updated_payload(room, bob, listener, django_capture_on_commit_callbacks):
    message = send(room, bob, "v1")
    _, frames = capture(
        listener, django_capture_on_commit_callbacks,
        lambda: services.message_edit(message=message, actor=bob, content="v2"),
        events.room_group(room.pk),
    )
    frame = _only(frames, "message.updated")
    assert frame["message_id"] == str(message.pk)
    assert frame["message"]["content"] == "v2" and frame["message"]["is_edited"] is True


def test_message_deleted_payload_has_no_content(room, bob, listener, django_capture_on_commit_callbacks):
    message = send(room, bob, "secret")
    _, frames = capture(
        listener, django_capture_on_commit_callbacks,
        lambda: services.message_delete(message=message, actor=bob),
        events.room_group(room.pk),
    )
    frame = _only(frames, "message.deleted")
    assert frame["message"]["is_deleted"] is True and frame["message"]["content"] is None
    assert "secret" not in str(frame)


def test_reaction_payloads(room, alice, bob, listener, django_capture_on_commit_callbacks):
    message = send(room, bob, "hi")
    _, frames = capture(
        listener, django_capture_on_commit_callbacks,
        lambda: services.reaction_add(message=message, user=alice, reaction="🎉"),
        events.room_group(room.pk),
    )
    added = _only(frames, "reaction.added")
    assert added == {
        "type": "reaction.added", "room": str(room.pk), "seq": added["seq"],
        "message_id": str(message.pk), "reaction": "🎉", "user_id": str(alice.pk), "count": 1,
    }
    with django_capture_on_commit_callbacks(execute=True):
        services.reaction_remove(message=message, user=alice, reaction="🎉")
    removed = _only(listener.frames(), "reaction.removed")
    assert removed["count"] == 0 and removed["seq"] == added["seq"] + 1


def test_member_added_reaches_room_and_the_new_member(room, alice, carol, listener, django_capture_on_commit_callbacks):
    _, frames = capture(
        listener, django_capture_on_commit_callbacks,
        lambda: services.room_member_add(room=room, actor=alice, user=carol),
        events.room_group(room.pk),
    )
    frame = _only(frames, "member.added")
    assert frame["member"]["user"]["username"] == "carol" and frame["member"]["role"] == "member"
    personal = GroupListener().subscribe(events.user_group(carol.pk))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.room_member_remove(room=room, actor=alice, member=ChatMember.objects.get(room=room, user=carol))
        raw = personal.receive_all()
    finally:
        personal.close()
    membership = [m for m in raw if m["type"] == "chat.membership"]
    assert len(membership) == 1
    assert membership[0]["action"] == "removed" and membership[0]["room"] == str(room.pk)


def test_member_updated_and_removed_payloads(room, alice, bob, listener, django_capture_on_commit_callbacks):
    target = ChatMember.objects.get(room=room, user=bob)
    until = timezone.now() + timedelta(hours=1)
    _, frames = capture(
        listener, django_capture_on_commit_callbacks,
        lambda: services.room_member_mute(room=room, actor=alice, member=target, until=until),
        events.room_group(room.pk),
    )
    updated = _only(frames, "member.updated")
    assert updated["member"]["muted_until"] is not None and updated["member"]["role"] == Role.MEMBER
    with django_capture_on_commit_callbacks(execute=True):
        services.room_member_ban(room=room, actor=alice, member=target)
    removed = _only(listener.frames(), "member.removed")
    assert removed["reason"] == "banned" and removed["member"]["is_banned"] is True


def test_room_updated_payload(room, alice, listener, django_capture_on_commit_callbacks):
    _, frames = capture(
        listener, django_capture_on_commit_callbacks,
        lambda: services.room_update(room=room, actor=alice, name="New name"),
        events.room_group(room.pk),
    )
    assert _only(frames, "room.updated")["room_data"]["name"] == "New name"


def test_read_notice_is_ephemeral(room, alice, bob, listener, django_capture_on_commit_callbacks):
    send(room, alice, "read me")
    log_size = room.events.count()
    _, frames = capture(
        listener, django_capture_on_commit_callbacks,
        lambda: services.room_mark_read(room=room, user=bob, seq=room.seq),
        events.room_group(room.pk),
    )
    assert frames == [{"type": "read", "room": str(room.pk), "user_id": str(bob.pk), "seq": room.seq}]
    assert room.events.count() == log_size


def test_replay_renders_current_message_state(room, bob, listener, django_capture_on_commit_callbacks):
    first_seq = room.seq
    message = send(room, bob, "before edit")
    services.message_edit(message=message, actor=bob, content="after edit")
    frames, has_more = selectors.events_since(room=room, after=first_seq)
    assert not has_more
    assert [f["type"] for f in frames] == ["message.created", "message.updated"]
    assert [f["seq"] for f in frames] == [first_seq + 1, first_seq + 2]
    assert all(f["message"]["content"] == "after edit" for f in frames)


def test_events_since_pages_and_refuses_purged_window(room, bob):
    for n in range(5):
        send(room, bob, f"n{n}")
    frames, has_more = selectors.events_since(room=room, after=0, limit=3)
    assert [f["seq"] for f in frames] == [1, 2, 3] and has_more
    room.events_purged_through = 4
    with pytest.raises(selectors.ResyncRequired):
        selectors.events_since(room=room, after=2)
    frames, _ = selectors.events_since(room=room, after=4)
    assert frames[0]["seq"] == 5
