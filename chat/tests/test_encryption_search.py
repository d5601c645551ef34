import pytest
from cryptography.fernet import Fernet
from django.db import IntegrityError, connection, transaction

from chat import commands, crypto, selectors
from chat.events.render import message_content
from chat.models import ChatMember, ChatMessage, ChatRoom, MessageReaction, RoomEvent
from chat.tests.factories import edit, group_room, react, send
from chatsite.core.exceptions import Invalid

SECRET = "Zanzibar rendezvous at midnight"


def raw_rows(sql):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def test_no_plaintext_in_the_database(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, SECRET)
    edit(message, bob, SECRET + " sharp")
    react(message, alice, "👀")
    for table in ("chat_chatmessage", "chat_messageedit", "chat_roomevent", "chat_searchtoken"):
        dump = repr(raw_rows(f"SELECT * FROM {table}"))
        assert "Zanzibar" not in dump and "zanzibar" not in dump and "rendezvous" not in dump, table
    assert message_content(ChatMessage.objects.get(pk=message.pk)) == SECRET + " sharp"


def test_content_decrypts_under_any_configured_key(alice, bob, settings):
    room = group_room(alice, bob)
    old_key = settings.CHAT_ENCRYPTION_KEYS[0]
    message = send(room, bob, SECRET)
    settings.CHAT_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]
    assert message_content(ChatMessage.objects.get(pk=message.pk)) == SECRET
    assert not crypto.is_under_primary_key(message.content_encrypted)
    rotated = crypto.reencrypt(message.content_encrypted)
    assert crypto.is_under_primary_key(rotated) and crypto.decrypt(rotated) == SECRET


def test_search_matches_all_words_case_insensitively_in_my_rooms_only(alice, bob, carol):
    room = group_room(alice, bob)
    hidden = group_room(carol, name="Carol's")
    hit = send(room, bob, "Deploy the Café release on Friday")
    send(room, bob, "deploy on Monday")
    send(hidden, carol, "deploy friday secretly")
    assert selectors.message_search(user=alice, query="friday DEPLOY") == [hit]
    assert selectors.message_search(user=alice, query="café") == [hit]
    assert selectors.message_search(user=alice, query="deploy", room=room) != []
    assert all(m.room_id == room.pk for m in selectors.message_search(user=alice, query="deploy"))
    assert selectors.message_search(user=alice, query="secretly") == []
    with pytest.raises(Invalid) as exc:
        selectors.message_search(user=alice, query="  !! ")
    assert exc.value.code == "query_required"


def test_search_hashes_depend_on_the_search_key(settings):
    first = crypto.word_hash("hello")
    settings.CHAT_SEARCH_KEY = "another key"
    assert crypto.word_hash("hello") != first


def test_unique_constraints(alice, bob):
    room = group_room(alice, bob)
    message = send(room, bob, "x", client_msg_id="u1")
    checks = [
        lambda: ChatMember.objects.create(room=room, user=bob),
        lambda: ChatMessage.objects.create(room=room, seq=message.seq, sender=alice, content_encrypted=""),
        lambda: ChatMessage.objects.create(room=room, seq=999, sender=bob, client_msg_id="u1", content_encrypted=""),
        lambda: RoomEvent.objects.create(room=room, seq=1, kind="message.created"),
        lambda: MessageReaction.objects.bulk_create(
            [MessageReaction(message=message, user=alice, reaction="a"), MessageReaction(message=message, user=alice, reaction="a")]
        ),
        lambda: ChatRoom.objects.create(room_type="direct"),  # a direct room needs its pair
        lambda: ChatMember.objects.filter(room=room, user=bob).update(is_banned=True, is_active=True),
    ]
    for check in checks:
        with pytest.raises(IntegrityError), transaction.atomic():
            check()


def test_direct_pair_unique_in_the_database(alice, bob):
    room, _ = commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
    low, high = sorted([alice.pk, bob.pk])
    with pytest.raises(IntegrityError), transaction.atomic():
        ChatRoom.objects.create(room_type="direct", direct_user_low_id=low, direct_user_high_id=high)
    with pytest.raises(IntegrityError), transaction.atomic():  # the pair must be ordered
        ChatRoom.objects.create(room_type="direct", direct_user_low_id=high, direct_user_high_id=low)
    assert ChatRoom.objects.filter(room_type="direct").count() == 1 and room.pk
