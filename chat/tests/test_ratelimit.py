import pytest

from chat.models import ChatMessage
from chat.tests.factories import group_room, send
from chatsite.core import ratelimit
from chatsite.core.exceptions import RateLimited
from chatsite.core.models import RateLimitLog


def test_limit_per_user_and_kind_with_one_log_row_per_window(alice, bob, settings):
    settings.CHAT_RATE_LIMITS = {"message.send": "3/m"}
    room = group_room(alice, bob)
    for _ in range(3):
        ratelimit.check(kind="message.send", user=alice, room_id=room.pk)
    for _ in range(4):
        with pytest.raises(RateLimited) as exc:
            ratelimit.check(kind="message.send", user=alice, room_id=room.pk)
        assert 1 <= exc.value.retry_after <= 60 and exc.value.code == "rate_limited"
    ratelimit.check(kind="message.send", user=bob, room_id=room.pk)  # bob has his own bucket
    ratelimit.check(kind="reaction", user=alice, room_id=room.pk)  # and each kind its own
    row = RateLimitLog.objects.get()
    assert (row.user_id, row.room_id, row.event_type, row.count, row.window_seconds) == (
        alice.pk, room.pk, "message.send", 4, 60
    )


def test_anonymous_limits_are_keyed_by_client_address(db, settings):
    settings.CHAT_RATE_LIMITS = {"auth.login": "1/m"}
    ratelimit.check(kind="auth.login", client_key="10.0.0.1")
    ratelimit.check(kind="auth.login", client_key="10.0.0.2")
    with pytest.raises(RateLimited):
        ratelimit.check(kind="auth.login", client_key="10.0.0.1")
    assert RateLimitLog.objects.get().client_key == "10.0.0.1"


def test_limits_can_be_switched_off(alice, settings):
    settings.CHAT_RATE_LIMITS = {"reaction": "1/m"}
    settings.CHAT_RATE_LIMITS_ENABLED = False
    for _ in range(3):
        ratelimit.check(kind="reaction", user=alice)
    assert not RateLimitLog.objects.exists()


def test_commands_meter_each_write_and_record_the_room(alice, bob, settings):
    settings.CHAT_RATE_LIMITS = {"message.send": "1/m"}
    room = group_room(alice, bob)
    send(room, alice, "one")
    with pytest.raises(RateLimited):
        send(room, alice, "two")
    assert ChatMessage.objects.filter(room=room, sender=alice, message_type="text").count() == 1
    row = RateLimitLog.objects.get()
    assert (row.user_id, row.room_id, row.event_type, row.count) == (alice.pk, room.pk, "message.send", 1)
