"""Each logged event kind: its payload, its broadcast only after commit, and its replay."""

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone

from chat import commands, selectors
from chat.events import wire
from chat.models import Role
from chat.tests.factories import delete, edit, group_room, mark_read, react, restore, send, unreact
from conftest import GroupListener


@pytest.fixture
def room(alice, bob):
    return group_room(alice, bob)


def _only(frames, kind):
    matching = [f for f in frames if f["type"] == kind]
    assert len(matching) == 1, frames
    return matching[0]


def test_message_created_is_broadcast_only_after_commit(room, bob, listener, django_capture_on_commit_callbacks):
    listener.subscribe(wire.room_group(room.pk))
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
    listener.subscribe(wire.room_group(room.pk))
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
    listener.subscribe(wire.room_group(room.pk))
    listener.receive_all(timeout=0.1)
    send(room, bob, "committed")
    assert _only(listener.frames(), "message.created")["message"]["content"] == "committed"


def after_commit(listener, django_capture_on_commit_callbacks, action):
    """Run ``action`` in a transaction that has not committed: nothing may be
    heard yet. Then commit: the layer messages heard."""
    with django_capture_on_commit_callbacks() as callbacks:
        action()
    assert listener.receive_all(timeout=0.1) == [], "announced before the commit"
    for callback in callbacks:
        callback()
    return listener.receive_all()


@pytest.fixture
def heard(room, listener, django_capture_on_commit_callbacks):
    """``heard(action)``: the frames the room's group gets from ``action``,
    checking that nothing is sent before the commit."""
    listener.subscribe(wire.room_group(room.pk))

    def run(action):
        return [json.loads(m["text"]) for m in after_commit(listener, django_capture_on_commit_callbacks, action)]

    return run


def test_message_updated_payload(room, bob, heard):
    message = send(room, bob, "v1")
    frame = _only(heard(lambda: edit(message, bob, "v2")), "message.updated")
    assert frame["message_id"] == str(message.pk)
    assert frame["message"]["content"] == "v2" and frame["message"]["is_edited"] is True


def test_message_deleted_payload_has_no_content(room, bob, heard):
    message = send(room, bob, "secret")
    frame = _only(heard(lambda: delete(message, bob)), "message.deleted")
    assert frame["message"]["is_deleted"] is True and frame["message"]["content"] is None
    assert "secret" not in str(frame)


def test_reaction_payloads(room, alice, bob, heard):
    message = send(room, bob, "hi")
    added = _only(heard(lambda: react(message, alice, "🎉")), "reaction.added")
    assert added == {
        "type": "reaction.added", "room": str(room.pk), "seq": added["seq"],
        "message_id": str(message.pk), "reaction": "🎉", "user_id": str(alice.pk), "count": 1,
    }
    removed = _only(heard(lambda: unreact(message, alice, "🎉")), "reaction.removed")
    assert removed["count"] == 0 and removed["seq"] == added["seq"] + 1


def test_member_added_reaches_room_and_the_new_member(room, alice, carol, heard, django_capture_on_commit_callbacks):
    frame = _only(
        heard(lambda: commands.member_add(actor=alice, room_id=room.pk, user_id=carol.pk, role=Role.MEMBER)),
        "member.added",
    )
    assert frame["member"]["user"]["username"] == "carol" and frame["member"]["role"] == "member"
    personal = GroupListener().subscribe(wire.user_group(carol.pk))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            commands.member_remove(actor=alice, room_id=room.pk, user_id=carol.pk)
        raw = personal.receive_all()
    finally:
        personal.close()
    membership = [m for m in raw if m["type"] == "chat.membership"]
    assert len(membership) == 1
    assert membership[0]["action"] == "removed" and membership[0]["room"] == str(room.pk)


def test_member_updated_and_removed_payloads(room, alice, bob, heard):
    until = timezone.now() + timedelta(hours=1)
    updated = _only(
        heard(lambda: commands.member_mute(actor=alice, room_id=room.pk, user_id=bob.pk, until=until)),
        "member.updated",
    )
    assert updated["member"]["muted_until"] is not None and updated["member"]["role"] == Role.MEMBER
    removed = _only(heard(lambda: commands.member_ban(actor=alice, room_id=room.pk, user_id=bob.pk)), "member.removed")
    assert removed["reason"] == "banned" and removed["member"]["is_banned"] is True


def test_room_updated_payload(room, alice, heard):
    frame = _only(heard(lambda: commands.room_update(actor=alice, room_id=room.pk, name="New name")), "room.updated")
    assert frame["room_data"]["name"] == "New name"


def test_read_notice_is_ephemeral(room, alice, bob, heard):
    send(room, alice, "read me")
    room.refresh_from_db()
    log_size = room.events.count()
    frames = heard(lambda: mark_read(room, bob, room.seq))
    assert frames == [{"type": "read", "room": str(room.pk), "user_id": str(bob.pk), "seq": room.seq}]
    assert room.events.count() == log_size


# Every command that announces something, with what it needs done first: each
# is heard only once its transaction commits.
def _muted(t):
    commands.member_mute(actor=t.alice, room_id=t.room.pk, user_id=t.bob.pk, until=timezone.now() + timedelta(hours=1))


ANNOUNCING = {
    "message_send": (None, lambda t: send(t.room, t.bob, "new")),
    "message_forward": (None, lambda t: commands.message_forward(actor=t.bob, message_id=t.message.pk, to_room_id=t.room.pk)),
    "message_edit": (None, lambda t: edit(t.message, t.bob, "changed")),
    "message_delete": (None, lambda t: delete(t.message, t.bob)),
    "message_restore": (lambda t: delete(t.message, t.bob), lambda t: restore(t.message, t.alice)),
    "room_post_announcement": (None, lambda t: commands.room_post_announcement(actor=t.alice, room_id=t.room.pk, content="Hear ye")),
    "reaction_add": (None, lambda t: react(t.message, t.alice, "👍")),
    "reaction_remove": (lambda t: react(t.message, t.alice, "👍"), lambda t: unreact(t.message, t.alice, "👍")),
    "room_mark_read": (None, lambda t: mark_read(t.room, t.bob, t.message.seq)),
    "room_create_group": (None, lambda t: commands.room_create_group(actor=t.alice, name="New", member_ids=[t.bob.pk])),
    "room_get_or_create_direct": (None, lambda t: commands.room_get_or_create_direct(actor=t.alice, user_id=t.carol.pk)),
    "room_open_support": (None, lambda t: commands.room_open_support(actor=t.carol)),
    "room_update": (None, lambda t: commands.room_update(actor=t.alice, room_id=t.room.pk, description="new")),
    "room_deactivate": (None, lambda t: commands.room_deactivate(actor=t.alice, room_id=t.room.pk)),
    "room_reactivate": (
        lambda t: commands.room_deactivate(actor=t.alice, room_id=t.room.pk),
        lambda t: commands.room_reactivate(actor=t.alice, room_id=t.room.pk),
    ),
    "room_join": (
        lambda t: commands.room_update(actor=t.alice, room_id=t.room.pk, is_public=True),
        lambda t: commands.room_join(actor=t.carol, room_id=t.room.pk),
    ),
    "room_leave": (None, lambda t: commands.room_leave(actor=t.bob, room_id=t.room.pk)),
    "member_add": (None, lambda t: commands.member_add(actor=t.alice, room_id=t.room.pk, user_id=t.carol.pk, role=Role.MEMBER)),
    "member_change_role": (None, lambda t: commands.member_change_role(actor=t.alice, room_id=t.room.pk, user_id=t.bob.pk, role=Role.ADMIN)),
    "member_remove": (None, lambda t: commands.member_remove(actor=t.alice, room_id=t.room.pk, user_id=t.bob.pk)),
    "member_mute": (None, _muted),
    "member_unmute": (_muted, lambda t: commands.member_unmute(actor=t.alice, room_id=t.room.pk, user_id=t.bob.pk)),
    "member_ban": (None, lambda t: commands.member_ban(actor=t.alice, room_id=t.room.pk, user_id=t.bob.pk)),
    "member_unban": (
        lambda t: commands.member_ban(actor=t.alice, room_id=t.room.pk, user_id=t.bob.pk),
        lambda t: commands.member_unban(actor=t.alice, room_id=t.room.pk, user_id=t.bob.pk),
    ),
    "user_set_company": (
        lambda t: commands.room_create_company(actor=t.alice, company=t.alice.company, name="All"),
        lambda t: commands.user_set_company(user=t.bob, company=None),
    ),
    "user_set_support_agent": (
        lambda t: commands.room_open_support(actor=t.alice),
        lambda t: commands.user_set_support_agent(user=t.carol, is_support_agent=True),
    ),
    "user_set_active": (None, lambda t: commands.user_set_active(user=t.bob, is_active=False)),
    "user_logged_out": (None, lambda t: commands.user_logged_out(user=t.bob)),
}


@pytest.mark.parametrize("command", sorted(ANNOUNCING))
def test_every_announcement_waits_for_the_commit(
    command, room, alice, bob, carol, listener, django_capture_on_commit_callbacks
):
    prepare, act = ANNOUNCING[command]
    t = SimpleNamespace(room=room, alice=alice, bob=bob, carol=carol, message=send(room, bob, "hello"))
    if prepare is not None:
        prepare(t)
    listener.subscribe(wire.room_group(room.pk), *(wire.user_group(u.pk) for u in (alice, bob, carol)))
    assert after_commit(listener, django_capture_on_commit_callbacks, lambda: act(t)), f"{command} announced nothing"


def test_replay_renders_current_message_state(room, bob, listener, django_capture_on_commit_callbacks):
    first_seq = room.seq
    message = send(room, bob, "before edit")
    edit(message, bob, "after edit")
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
