import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from chat import selectors, services
from chatsite.core.exceptions import Conflict, Forbidden, Invalid, NotFound
from chat.models import (
    Attachment,
    AuditLog,
    ChatMember,
    ChatMessage,
    MessageEdit,
    MessageReaction,
    Role,
    RoomEvent,
    SearchToken,
)
from chat.events.render import message_content
from chat.tests.factories import group_room, send


def make_attachment(user, name="notes.txt", content_type="text/plain"):
    attachment = Attachment(uploaded_by=user, original_name=name, content_type=content_type, size=5)
    attachment.file.save(name, ContentFile(b"hello"), save=False)
    attachment.save()
    return attachment


def test_send_stores_seq_and_event(alice, bob):
    room = group_room(alice, bob)
    message, created = services.message_send(room=room, sender=bob, content="hi all", client_msg_id="c1")
    assert created and message.seq == room.seq
    event = RoomEvent.objects.get(room=room, seq=message.seq)
    assert event.kind == "message.created" and event.message_id == message.pk
    assert "message" not in event.payload  # the log keeps no content


def test_same_client_msg_id_returns_original(alice, bob):
    room = group_room(alice, bob)
    first, created = services.message_send(room=room, sender=bob, content="once", client_msg_id="same")
    again, created_again = services.message_send(room=room, sender=bob, content="twice?", client_msg_id="same")
    assert created and not created_again and again.pk == first.pk
    assert ChatMessage.objects.filter(client_msg_id="same").count() == 1
    assert message_content(again) == "once"
    # another sender may use the same id
    other, created_other = services.message_send(room=room, sender=alice, content="mine", client_msg_id="same")
    assert created_other and other.pk != first.pk


def test_client_msg_id_reused_in_another_room_is_a_conflict(alice, bob):
    room, other_room = group_room(alice, bob), group_room(alice, bob, name="Other")
    services.message_send(room=room, sender=bob, content="one", client_msg_id="x")
    with pytest.raises(Conflict):
        services.message_send(room=other_room, sender=bob, content="two", client_msg_id="x")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_with_one_client_msg_id_make_one_message(alice, bob):
    room = group_room(alice, bob)
    start_seq = room.seq
    barrier = threading.Barrier(6)

    def send_once(_):
        barrier.wait()
        try:
            message, created = services.message_send(room=room, sender=bob, content="dup", client_msg_id="race")
            return message.pk, created
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(send_once, range(6)))
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    room.refresh_from_db()
    assert room.seq == start_seq + 1
    assert list(RoomEvent.objects.filter(room=room).values_list("seq", flat=True)) == list(range(1, room.seq + 1))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seq_is_gap_free_and_ordered_under_concurrent_sends(alice, bob, carol):
    room = group_room(alice, bob, carol)
    senders = [alice, bob, carol]
    barrier = threading.Barrier(6)

    def burst(i):
        barrier.wait()
        try:
            return [send(room, senders[i % 3], f"m{i}-{n}", client_msg_id=f"{i}-{n}").seq for n in range(15)]
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        per_thread = list(pool.map(burst, range(6)))
    for seqs in per_thread:
        assert seqs == sorted(seqs)  # each sender sees its own sends in order
    room.refresh_from_db()
    event_seqs = list(RoomEvent.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
    assert event_seqs == list(range(1, room.seq + 1))
    assert ChatMessage.objects.filter(room=room).count() == 90 + 1


def test_content_limits(alice, bob, settings):
    settings.CHAT_MAX_MESSAGE_LENGTH = 10
    room = group_room(alice, bob)
    with pytest.raises(Invalid) as exc:
        send(room, bob, "x" * 11)
    assert exc.value.code == "content_too_long" and "10" in exc.value.detail
    with pytest.raises(Invalid):
        send(room, bob, "   ")
    with pytest.raises(Invalid):
        send(room, bob, "nul\x00byte")
    with pytest.raises(Invalid):
        send(room, bob, "hi", message_type="system")
    assert send(room, bob, "x" * 10).pk


def test_reply_must_be_in_same_room(alice, bob):
    room, other = group_room(alice, bob), group_room(alice, bob, name="Other")
    original = send(room, alice, "question?")
    reply = send(room, bob, "answer", reply_to=original)
    assert reply.reply_to_id == original.pk
    with pytest.raises(Invalid):
        send(other, bob, "cross-room", reply_to=original)


def test_forward_into_room_where_forwarder_is_member(alice, bob, carol):
    source = group_room(alice, bob)
    target = group_room(bob, carol, name="Target")
    elsewhere = group_room(alice, carol, name="Elsewhere")
    original = send(source, alice, "worth sharing")
    forwarded, created = services.message_forward(message=original, to_room=target, actor=bob)
    assert created and forwarded.room_id == target.pk and forwarded.forwarded_from_id == original.pk
    assert message_content(forwarded) == "worth sharing" and forwarded.sender_id == bob.pk
    with pytest.raises(NotFound):
        services.message_forward(message=original, to_room=elsewhere, actor=bob)  # not a member there
    with pytest.raises(NotFound):
        services.message_forward(message=original, to_room=target, actor=carol)  # cannot see the source


def test_edit_keeps_history_and_updates_index(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, "the quick fox")
    services.message_edit(message=message, actor=bob, content="the slow turtle")
    message.refresh_from_db()
    assert message.is_edited and message_content(message) == "the slow turtle"
    history = selectors.message_edit_history(message=message)
    assert [h["content"] for h in history] == ["the quick fox"]
    assert selectors.message_search(user=alice, query="turtle") == [message]
    assert selectors.message_search(user=alice, query="fox") == []
    assert RoomEvent.objects.filter(room=room).latest("seq").kind == "message.updated"


def test_only_sender_edits(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, "mine")
    with pytest.raises(Forbidden):
        services.message_edit(message=message, actor=alice, content="owner's now")
    message.refresh_from_db()
    assert message_content(message) == "mine" and not MessageEdit.objects.exists()


def test_delete_by_sender_and_by_admin_but_not_by_member(alice, bob, carol):
    room = group_room(alice, bob, carol)
    own = send(room, bob, "oops")
    services.message_delete(message=own, actor=bob)
    own.refresh_from_db()
    assert own.is_deleted and message_content(own) is None
    other = send(room, carol, "carol's words")
    with pytest.raises(Forbidden):
        services.message_delete(message=other, actor=bob)
    services.message_delete(message=other, actor=alice, reason="off topic")
    other.refresh_from_db()
    assert other.is_deleted and other.deleted_by_id == alice.pk
    assert AuditLog.objects.filter(action="message.delete", target_message=other, reason="off topic").exists()
    assert not AuditLog.objects.filter(target_message=own).exists()  # deleting your own is not moderation
    assert selectors.message_search(user=alice, query="carol") == []


def test_restore_by_admin(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, "recoverable words")
    services.message_delete(message=message, actor=bob)
    with pytest.raises(Forbidden):
        services.message_restore(message=message, actor=bob)
    services.message_restore(message=message, actor=alice)
    message.refresh_from_db()
    assert not message.is_deleted and message_content(message) == "recoverable words"
    assert selectors.message_search(user=alice, query="recoverable") == [message]


def test_reactions_one_per_user_and_reaction(alice, bob):
    room = group_room(alice, bob)
    message = send(room, alice, "react to me")
    _, created = services.reaction_add(message=message, user=bob, reaction="👍")
    _, created_again = services.reaction_add(message=message, user=bob, reaction="👍")
    services.reaction_add(message=message, user=alice, reaction="👍")
    assert created and not created_again
    assert MessageReaction.objects.filter(message=message).count() == 2
    event = RoomEvent.objects.filter(room=room, kind="reaction.added").latest("seq")
    assert event.payload["count"] == 2 and event.payload["reaction"] == "👍"
    assert services.reaction_remove(message=message, user=bob, reaction="👍")
    assert not services.reaction_remove(message=message, user=bob, reaction="👍")
    with pytest.raises(Invalid):
        services.reaction_add(message=message, user=bob, reaction="two words")
    with pytest.raises(Invalid):
        services.reaction_add(message=message, user=bob, reaction="x" * 33)


def test_mark_read_moves_forward_only_and_unread_counts(alice, bob):
    room = group_room(alice, bob)
    for n in range(3):
        send(room, alice, f"n{n}")
    assert selectors.unread_count(room=room, user=bob) == 4  # three messages and the room-created line
    services.room_mark_read(room=room, user=bob, seq=room.seq - 1)
    assert selectors.unread_count(room=room, user=bob) == 1
    services.room_mark_read(room=room, user=bob, seq=1)  # never back
    assert ChatMember.objects.get(room=room, user=bob).last_read_seq == room.seq - 1
    services.room_mark_read(room=room, user=bob, seq=10**9)  # clamped to the room
    assert ChatMember.objects.get(room=room, user=bob).last_read_seq == room.seq
    assert selectors.unread_count(room=room, user=bob) == 0
    with pytest.raises(Invalid):
        services.room_mark_read(room=room, user=bob, seq=-1)


def test_send_with_attachment_and_guest_refusal(alice, bob, make_user):
    room = group_room(alice, bob)
    guest = make_user()
    services.room_member_add(room=room, actor=alice, user=guest, role=Role.GUEST)
    attachment = make_attachment(bob)
    message = send(room, bob, "", attachment=attachment)
    assert message.message_type == "file" and message.attachment_id == attachment.pk
    with pytest.raises(Forbidden) as exc:
        send(room, guest, "", attachment=make_attachment(guest))
    assert exc.value.code == "guest_cannot_upload"
    with pytest.raises(NotFound):
        send(room, alice, "", attachment=attachment)  # not alice's upload
    with pytest.raises(Invalid):
        send(room, bob, "", message_type="image", attachment=make_attachment(bob))  # not an image


def test_banned_word_masked_or_rejected(alice, bob, settings):
    settings.CHAT_BANNED_WORDS = ["darn"]
    room = group_room(alice, bob)
    masked = send(room, bob, "Darn it, darning is fine")
    assert message_content(masked) == "**** it, darning is fine"
    settings.CHAT_BANNED_WORDS_MODE = "reject"
    with pytest.raises(Invalid) as exc:
        send(room, bob, "darn")
    assert exc.value.code == "banned_word"


def test_watched_link_domains_are_flagged(alice, bob, settings):
    settings.CHAT_FLAGGED_LINK_DOMAINS = ["evil.example"]
    room = group_room(alice, bob)
    flagged = send(room, bob, "see https://www.evil.example/prize now")
    fine = send(room, bob, "see https://good.example/ and notevil.example")
    assert flagged.is_flagged and flagged.flag_reason == "link to evil.example"
    assert not fine.is_flagged


def test_announcement_by_moderator(alice, bob, moderator):
    room = group_room(alice, bob)
    with pytest.raises(Forbidden):
        services.room_post_announcement(room=room, actor=bob, content="I am the law")
    message = services.room_post_announcement(room=room, actor=moderator, content="Maintenance at 6")
    assert message.message_type == "system" and message_content(message) == "Maintenance at 6"
    assert AuditLog.objects.filter(action="room.announce", room=room).exists()


def test_search_tokens_follow_delete(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, "alpha beta")
    assert SearchToken.objects.filter(message=message).count() == 2
    services.message_delete(message=message, actor=bob)
    assert not SearchToken.objects.filter(message=message).exists()
