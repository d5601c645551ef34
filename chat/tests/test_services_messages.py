import pytest
from django.core.files.base import ContentFile

from chat import commands, selectors
from chat.events.render import message_content
from chat.models import (
    Attachment,
    AuditLog,
    ChatMessage,
    MessageEdit,
    MessageReaction,
    Role,
    RoomEvent,
    SearchToken,
)
from chat.services import messages
from chat.tests.factories import delete, edit, fresh, group_room, mark_read, member, react, restore, send, send_result
from chatsite.core.exceptions import Conflict, Forbidden, Invalid, NotFound


def make_attachment(user, name="notes.txt", content_type="text/plain"):
    attachment = Attachment(uploaded_by=user, original_name=name, content_type=content_type, size=5)
    attachment.file.save(name, ContentFile(b"hello"), save=False)
    attachment.save()
    return attachment


def test_send_stores_seq_and_event(alice, bob):
    room = group_room(alice, bob)
    result = send_result(room, bob, "hi all", client_msg_id="c1")
    message = result.message
    room.refresh_from_db()
    assert result.created and message.seq == room.seq
    event = RoomEvent.objects.get(room=room, seq=message.seq)
    assert event.kind == "message.created" and event.message_id == message.pk
    assert "message" not in event.payload  # the log keeps no content


def test_same_client_msg_id_returns_original(alice, bob):
    room = group_room(alice, bob)
    first = send_result(room, bob, "once", client_msg_id="same")
    again = send_result(room, bob, "twice?", client_msg_id="same")
    assert first.created and not again.created and again.message.pk == first.message.pk
    assert ChatMessage.objects.filter(client_msg_id="same").count() == 1
    assert message_content(again.message) == "once"
    # another sender may use the same id
    other = send_result(room, alice, "mine", client_msg_id="same")
    assert other.created and other.message.pk != first.message.pk


def test_client_msg_id_reused_in_another_room_is_a_conflict(alice, bob):
    room, other_room = group_room(alice, bob), group_room(alice, bob, name="Other")
    send(room, bob, "one", client_msg_id="x")
    with pytest.raises(Conflict):
        send(other_room, bob, "two", client_msg_id="x")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_with_one_client_msg_id_make_one_message(alice, bob, concurrently):
    room = group_room(alice, bob)
    start_seq = room.seq

    def send_once(_):
        result = send_result(room, bob, "dup", client_msg_id="race")
        return result.message.pk, result.created

    results = concurrently(6, send_once)
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    room.refresh_from_db()
    assert room.seq == start_seq + 1
    assert list(RoomEvent.objects.filter(room=room).values_list("seq", flat=True)) == list(range(1, room.seq + 1))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seq_is_gap_free_and_ordered_under_concurrent_sends(alice, bob, carol, no_rate_limits, concurrently):
    room = group_room(alice, bob, carol)
    senders = [alice, bob, carol]

    def burst(i):
        return [send(room, senders[i % 3], f"m{i}-{n}", client_msg_id=f"{i}-{n}").seq for n in range(15)]

    per_thread = concurrently(6, burst)
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
    with pytest.raises(NotFound) as exc:  # the command looks the replied message up in the room
        send(other, bob, "cross-room", reply_to=original)
    assert exc.value.code == "reply_not_found"
    with pytest.raises(Invalid):  # and the service refuses one from elsewhere
        messages.message_send(
            room=other,
            sender=bob,
            member=member(other, bob),
            draft=messages.MessageDraft(content="cross-room", reply_to=original),
        )


def test_forward_into_room_where_forwarder_is_member(alice, bob, carol):
    source = group_room(alice, bob)
    target = group_room(bob, carol, name="Target")
    elsewhere = group_room(alice, carol, name="Elsewhere")
    original = send(source, alice, "worth sharing")

    def forward(actor, to_room):
        return commands.message_forward(actor=actor, message_id=original.pk, to_room_id=to_room.pk)

    result = forward(bob, target)
    forwarded = result.message
    assert result.created and forwarded.room_id == target.pk and forwarded.forwarded_from_id == original.pk
    assert message_content(forwarded) == "worth sharing" and forwarded.sender_id == bob.pk
    with pytest.raises(NotFound):
        forward(bob, elsewhere)  # not a member there
    with pytest.raises(NotFound):
        forward(carol, target)  # cannot see the source


def test_edit_keeps_history_and_updates_index(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, "the quick fox")
    edit(message, bob, "the slow turtle")
    message = fresh(message)
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
        edit(message, alice, "owner's now")
    message = fresh(message)
    assert message_content(message) == "mine" and not MessageEdit.objects.exists()


def test_delete_by_sender_and_by_admin_but_not_by_member(alice, bob, carol):
    room = group_room(alice, bob, carol)
    own = send(room, bob, "oops")
    delete(own, bob)
    own = fresh(own)
    assert own.is_deleted and message_content(own) is None
    other = send(room, carol, "carol's words")
    with pytest.raises(Forbidden):
        delete(other, bob)
    delete(other, alice, reason="off topic")
    other = fresh(other)
    assert other.is_deleted and other.deleted_by_id == alice.pk
    assert AuditLog.objects.filter(action="message.delete", target_message=other, reason="off topic").exists()
    assert not AuditLog.objects.filter(target_message=own).exists()  # deleting your own is not moderation
    assert selectors.message_search(user=alice, query="carol") == []


def test_restore_by_admin(alice, bob, settings):
    settings.CHAT_UNDO_DELETE_SECONDS = 0  # past the sender's own undo
    room = group_room(alice, bob)
    message = send(room, bob, "recoverable words")
    delete(message, bob)
    with pytest.raises(Forbidden):
        restore(message, bob)
    restore(message, alice)
    message = fresh(message)
    assert not message.is_deleted and message_content(message) == "recoverable words"
    assert selectors.message_search(user=alice, query="recoverable") == [message]


def test_reactions_one_per_user_and_reaction(alice, bob):
    room = group_room(alice, bob)
    message = send(room, alice, "react to me")
    _, created = react(message, bob, "👍")
    _, created_again = react(message, bob, "👍")
    reactions, _ = react(message, alice, "👍")
    assert created and not created_again
    assert reactions == [{"reaction": "👍", "count": 2, "user_ids": [str(bob.pk), str(alice.pk)], "me": True}]
    assert MessageReaction.objects.filter(message=message).count() == 2
    event = RoomEvent.objects.filter(room=room, kind="reaction.added").latest("seq")
    assert event.payload["count"] == 2 and event.payload["reaction"] == "👍"
    # The service says whether there was a reaction to take back.
    assert messages.reaction_remove(message=message, user=bob, reaction="👍")
    assert not messages.reaction_remove(message=message, user=bob, reaction="👍")
    with pytest.raises(Invalid):
        react(message, bob, "two words")
    with pytest.raises(Invalid):
        react(message, bob, "x" * 33)


def test_mark_read_moves_forward_only_and_unread_counts(alice, bob):
    room = group_room(alice, bob)
    for n in range(3):
        send(room, alice, f"n{n}")
    room.refresh_from_db()
    assert selectors.unread_count(room=room, user=bob) == 4  # three messages and the room-created line
    assert mark_read(room, bob, room.seq - 1)["unread_count"] == 1
    assert selectors.unread_count(room=room, user=bob) == 1
    mark_read(room, bob, 1)  # never back
    assert member(room, bob).last_read_seq == room.seq - 1
    mark_read(room, bob, 10**9)  # clamped to the room
    assert member(room, bob).last_read_seq == room.seq
    assert selectors.unread_count(room=room, user=bob) == 0
    with pytest.raises(Invalid):
        mark_read(room, bob, -1)


def test_send_with_attachment_and_guest_refusal(alice, bob, make_user):
    room = group_room(alice, bob)
    guest = make_user()
    commands.member_add(actor=alice, room_id=room.pk, user_id=guest.pk, role=Role.GUEST)
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

    def announce(actor, content):
        return commands.room_post_announcement(actor=actor, room_id=room.pk, content=content).message

    with pytest.raises(Forbidden):
        announce(bob, "I am the law")
    message = announce(moderator, "Maintenance at 6")
    assert message.message_type == "system" and message_content(message) == "Maintenance at 6"
    assert AuditLog.objects.filter(action="room.announce", room=room).exists()


def test_search_tokens_follow_delete(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, "alpha beta")
    # Prefixes of 3 to 12 characters: alp, alph, alpha; bet, beta.
    assert SearchToken.objects.filter(message=message).count() == 5
    delete(message, bob)
    assert not SearchToken.objects.filter(message=message).exists()


def test_an_imported_message_keeps_its_time_and_its_log_row_is_stamped_now(alice, bob):
    """The one insert path (one statement on PostgreSQL, steps on SQLite) with a
    given time: the message and its search entries sort by that time; the log
    row is as new as the import, so retention does not take it at once."""
    from datetime import timedelta

    from django.utils import timezone

    from chat.models import ChatMessage, RoomEvent, SearchToken
    from chat.services.common import create_message

    room = group_room(alice, bob)
    then = timezone.now() - timedelta(days=400)
    message = create_message(ChatMessage(room=room, sender=bob, message_type="text"), text="old words", created_at=then)
    stored = ChatMessage.objects.get(pk=message.pk)
    assert stored.created_at == then == message.created_at
    assert set(SearchToken.objects.filter(message=stored).values_list("created_at", flat=True)) == {then}
    event = RoomEvent.objects.get(room=room, seq=stored.seq)
    assert event.message_id == stored.pk and timezone.now() - event.created_at < timedelta(minutes=5)
    # A send's message in memory is the row as stored (the frame and the API agree).
    sent = send_result(room, alice, "now").message
    assert ChatMessage.objects.get(pk=sent.pk).created_at == sent.created_at
