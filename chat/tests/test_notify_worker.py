"""The notification worker (chat/notify/worker.py) on PostgreSQL, sending to a
real SMTP server (aiosmtpd, chat/tests/smtp_server.py).

Rows are written the way the product writes them: a message sent through
chat.commands schedules them (chat/services/notifications.py). Changes "behind
the services' back" (ORM updates) prove the worker's own re-check at send
time; the same changes through the commands prove the whole path.
"""

import asyncio
import logging
import signal
import sys
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts import services as account_services
from chat import commands, presence
from chat.models import (
    ChatMember,
    ChatMessage,
    MessageMention,
    Notification,
    NotificationChannel,
    NotificationPreferences,
    NotificationState,
)
from chat.notify import push, worker
from chat.tests import live, smtp_server
from chat.tests.factories import group_room, mark_read, send

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("no_rate_limits")]

MAX_PASSES = 20  # no test needs more passes than this to drain its rows


@pytest.fixture
def smtp(settings):
    with smtp_server.running() as server:
        for name, value in server.settings().items():
            setattr(settings, name, value)
        yield server


def later(minutes: int = 11):
    """After the default email delay (10 minutes) of rows written now."""
    return timezone.now() + timedelta(minutes=minutes)


def direct_room(a, b):
    room, _created = commands.room_get_or_create_direct(actor=a, user_id=b.pk)
    return room


def email_rows(user=None):
    rows = Notification.objects.filter(channel=NotificationChannel.EMAIL)
    return rows.filter(user=user) if user is not None else rows


# --- sending ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_due_email_rows_become_one_email_per_user_and_are_marked_sent(smtp, alice, bob, carol):
    send(direct_room(alice, bob), alice, "lunch?")
    send(direct_room(alice, bob), alice, "at noon")
    team = group_room(alice, bob, carol)
    send(team, alice, "@bob @carol please review")
    when = later()

    counts = worker.process_due(now=when)

    received = smtp.wait_for(messages=2)
    assert sorted(r.recipients[0] for r in received) == ["bob@example.com", "carol@example.com"]
    by_recipient = {r.recipients[0]: r for r in received}
    assert by_recipient["bob@example.com"].message["Subject"] == "3 new messages in 2 conversations"
    assert by_recipient["carol@example.com"].message["Subject"] == "1 new message in 1 conversation"
    assert counts["emails"] == 2 and counts["sent"] == 4
    rows = list(email_rows())
    assert len(rows) == 4
    assert {(row.state, row.attempts, row.sent_at) for row in rows} == {(NotificationState.SENT, 1, when)}
    # Nothing is sent twice.
    assert worker.process_due(now=later(12))["emails"] == 0
    time.sleep(0.2)
    assert len(smtp.messages) == 2


@pytest.mark.django_db
def test_nothing_is_sent_before_the_delay(smtp, alice, bob):
    send(direct_room(alice, bob), alice, "hi")

    counts = worker.process_due(now=later(minutes=9))

    assert counts["due"] == 0 and smtp.messages == []
    assert email_rows(bob).get().state == NotificationState.PENDING


@pytest.mark.django_db
def test_a_message_read_before_the_delay_sends_no_email(smtp, alice, bob):
    room = direct_room(alice, bob)
    message = send(room, alice, "hi")
    mark_read(room, bob, message.seq)

    worker.process_due(now=later())

    assert smtp.messages == []
    assert email_rows(bob).get().state == NotificationState.CANCELLED


def _behind_the_back(change, *, room, message, alice, bob):
    """The change made straight in the database, as if the services had missed it."""
    if change == "muted":
        ChatMember.objects.filter(room=room, user=bob).update(notifications_muted=True)
    elif change == "level nothing":
        ChatMember.objects.filter(room=room, user=bob).update(notify_level="nothing")
    elif change == "left":
        ChatMember.objects.filter(room=room, user=bob).update(is_active=False)
    elif change == "deactivated":
        type(bob).objects.filter(pk=bob.pk).update(is_active=False)
    elif change == "blocked the sender":
        account_services.user_block(blocker=bob, blocked=alice)
    elif change == "blocked by the sender":
        account_services.user_block(blocker=alice, blocked=bob)
    elif change == "deleted":
        ChatMessage.objects.filter(pk=message.pk).update(is_deleted=True)
    elif change == "read":
        ChatMember.objects.filter(room=room, user=bob).update(last_read_seq=message.seq)
    elif change == "email off":
        NotificationPreferences.objects.update_or_create(user=bob, defaults={"email_enabled": False})
    elif change == "mention removed":
        MessageMention.objects.filter(message=message, user=bob).delete()
    else:  # pragma: no cover
        raise AssertionError(change)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("muted", "room muted"),
        ("level nothing", "level nothing"),
        ("left", "not a member"),
        ("deactivated", "user deactivated"),
        ("blocked the sender", "blocked"),
        ("blocked by the sender", "blocked"),
        ("deleted", "message deleted"),
        ("read", "read"),
        ("email off", "email off"),
        ("mention removed", "not mentioned"),
    ],
)
def test_the_worker_rechecks_each_row_at_send_time(smtp, alice, bob, carol, change, reason):
    team = group_room(alice, bob, carol)
    message = send(team, alice, "@bob look")
    send(team, alice, "@carol look")  # untouched by the change: the pass must go on to it
    _behind_the_back(change, room=team, message=message, alice=alice, bob=bob)

    counts = worker.process_due(now=later())

    received = smtp.wait_for(messages=1)
    time.sleep(0.2)
    assert [r.recipients for r in smtp.messages] == [["carol@example.com"]]
    row = email_rows(bob).get()
    assert (row.state, row.last_error, row.sent_at) == (NotificationState.CANCELLED, reason, None)
    assert counts["cancelled"] == 1 and counts["emails"] == 1
    assert received[0].message["Subject"] == "1 new message in 1 conversation"


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["muted", "level nothing", "left", "deactivated", "blocked", "read elsewhere", "email off"])
def test_the_same_changes_through_the_product_send_nothing(smtp, alice, bob, change):
    room = group_room(alice, bob)
    message = send(room, alice, "@bob ping")
    if change == "muted":
        commands.room_notifications_update(actor=bob, room_id=room.pk, muted=True)
    elif change == "level nothing":
        commands.room_notifications_update(actor=bob, room_id=room.pk, level="nothing")
    elif change == "left":
        commands.room_leave(actor=bob, room_id=room.pk)
    elif change == "deactivated":
        commands.user_set_active(user=bob, is_active=False)
    elif change == "blocked":
        account_services.user_block(blocker=bob, blocked=alice)
    elif change == "read elsewhere":
        mark_read(room, bob, message.seq)
    elif change == "email off":
        commands.notification_preferences_update(actor=bob, email_enabled=False)

    worker.process_due(now=later())

    time.sleep(0.2)
    assert smtp.messages == []
    assert email_rows(bob).exclude(state=NotificationState.CANCELLED).count() == 0


# --- failures ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_refused_email_is_retried_with_backoff_then_failed_and_does_not_stop_the_pass(settings, alice, bob, carol):
    settings.CHAT_NOTIFICATION_MAX_ATTEMPTS = 2
    with smtp_server.running(refuse=["bob@example.com"]) as server:
        for name, value in server.settings().items():
            setattr(settings, name, value)
        team = group_room(alice, bob, carol)
        send(team, alice, "@bob @carol look")
        first = later()

        counts = worker.process_due(now=first)

        assert [r.recipients for r in server.wait_for(messages=1)] == [["carol@example.com"]]
        assert counts["retrying"] == 1 and counts["emails"] == 1
        row = email_rows(bob).get()
        assert row.state == NotificationState.PENDING and row.attempts == 1
        assert row.due_at == first + timedelta(seconds=worker.RETRY_BACKOFF[0])
        assert "SMTPRecipientsRefused" in row.last_error
        # Not due again before the backoff.
        assert worker.process_due(now=first + timedelta(seconds=30))["due"] == 0

        counts = worker.process_due(now=row.due_at)

        row.refresh_from_db()
        assert counts["failed"] == 1
        assert (row.state, row.attempts, row.sent_at) == (NotificationState.FAILED, 2, None)
        assert len(server.messages) == 1


@pytest.mark.django_db
def test_an_unreachable_mail_server_leaves_the_rows_pending_for_later(settings, alice, bob):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", live.free_port(), 2
    send(direct_room(alice, bob), alice, "hi")
    when = later()

    counts = worker.process_due(now=when)

    row = email_rows(bob).get()
    assert counts["retrying"] == 1
    assert (row.state, row.attempts, row.due_at) == (NotificationState.PENDING, 1, when + timedelta(minutes=1))
    assert "ConnectionRefusedError" in row.last_error


# --- push rows --------------------------------------------------------------------------------------
def _push_row(room, message, user, **fields):
    return Notification.objects.create(
        user=user, room=room, message=message, channel=NotificationChannel.PUSH, reason="direct", due_at=timezone.now(), **fields
    )


@pytest.fixture
def deliveries(monkeypatch):
    """Stands in for chat.notify.push.deliver (the push tests test the real one)."""
    calls, answers = [], {}

    def deliver(notification):
        calls.append(notification.pk)
        answer = answers.get(notification.user_id, "sent")
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(push, "deliver", deliver, raising=False)
    return calls, answers


@pytest.mark.django_db
def test_push_rows_go_to_push_deliver_unless_the_user_is_online_and_one_failure_stops_nothing(deliveries, alice, bob, carol, make_user):
    calls, answers = deliveries
    dave = make_user(username="dave")
    online_channel = "test-notify-worker-socket"
    asyncio.run(presence.backend().add(str(carol.pk), online_channel, time.time() + 60))
    try:
        rows = {}
        for user in (bob, carol, dave):
            room = direct_room(alice, user)
            rows[user.username] = _push_row(room, send(room, alice, "hi"), user)
        answers[bob.pk] = RuntimeError("push service down")
        Notification.objects.filter(channel=NotificationChannel.EMAIL).delete()

        counts = worker.process_due(now=timezone.now())
    finally:
        asyncio.run(presence.backend().remove(str(carol.pk), online_channel))

    for row in rows.values():
        row.refresh_from_db()
    assert sorted(calls) == sorted([rows["bob"].pk, rows["dave"].pk])  # carol has a socket open
    assert (rows["carol"].state, rows["carol"].last_error) == (NotificationState.SKIPPED, "online")
    assert (rows["dave"].state, rows["dave"].attempts) == (NotificationState.SENT, 1)
    assert (rows["bob"].state, rows["bob"].attempts) == (NotificationState.PENDING, 1)
    assert "push service down" in rows["bob"].last_error
    assert counts == {"sent": 1, "skipped": 1, "cancelled": 0, "failed": 0, "retrying": 1, "emails": 0, "due": 3}


@pytest.mark.django_db
def test_push_deliver_decides_the_final_state(deliveries, alice, bob):
    calls, answers = deliveries
    answers[bob.pk] = "skipped"  # no subscription
    room = direct_room(alice, bob)
    row = _push_row(room, send(room, alice, "hi"), bob)
    Notification.objects.filter(channel=NotificationChannel.EMAIL).delete()

    worker.process_due()

    row.refresh_from_db()
    assert calls == [row.pk] and row.state == NotificationState.SKIPPED and row.sent_at is None


# --- the log ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_worker_logs_counts_but_no_content_or_address(smtp, caplog, alice, bob):
    send(direct_room(alice, bob), alice, "the secret plan")
    with caplog.at_level(logging.INFO, logger="chat.notify.worker"):
        worker.process_due(now=later())
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == "chat.notify.worker")
    assert "1 emails sent" in logged
    assert "secret" not in logged and "bob" not in logged and "alice" not in logged.lower()


# --- the command ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_notification_worker_once_sends_what_is_due(smtp, alice, bob, capsys):
    send(direct_room(alice, bob), alice, "hi")
    email_rows(bob).update(due_at=timezone.now() - timedelta(seconds=1))

    call_command("notification_worker", "--once")

    assert [r.recipients for r in smtp.wait_for(messages=1)] == [["bob@example.com"]]
    assert "emails: 1" in capsys.readouterr().out
    assert email_rows(bob).get().state == NotificationState.SENT


# --- concurrency and crashes (committed data: other connections and processes see it) ---------------
def _many_due_emails(alice, make_user, count: int) -> list[str]:
    """``count`` people with one due email each; their addresses."""
    addresses = []
    for n in range(count):
        person = make_user(username=f"reader{n}")
        send(direct_room(alice, person), alice, f"message {n}")
        addresses.append(person.email)
    Notification.objects.filter(channel=NotificationChannel.PUSH).delete()
    email_rows().update(due_at=timezone.now() - timedelta(seconds=1))
    return sorted(addresses)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_send_a_row_twice(settings, concurrently, alice, make_user):
    with smtp_server.running(delay=0.05) as server:
        for name, value in server.settings().items():
            setattr(settings, name, value)
        addresses = _many_due_emails(alice, make_user, 12)

        results = concurrently(2, lambda i: worker.process_due())

        assert sum(result["emails"] for result in results) == 12
        assert all(result["emails"] > 0 for result in results)  # they really worked side by side
        received = server.wait_for(messages=12)
        time.sleep(0.3)
        assert sorted(r.recipients[0] for r in server.messages) == addresses
        assert len(received) == 12
    assert set(email_rows().values_list("state", flat=True)) == {NotificationState.SENT}


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_and_restarted_sends_every_email_exactly_once(alice, make_user, tmp_path):
    from django.conf import settings
    from django.db import connection

    count = 8
    addresses = _many_due_emails(alice, make_user, count)
    with smtp_server.running(delay=0.3) as server:
        env = live.server_env(
            database=live.database_url(connection.settings_dict),
            redis=settings.REDIS_URL,
            tmp=tmp_path,
            EMAIL_URL=server.url,
            CHAT_SITE_URL="http://chat.example.test",
        )

        def start(name):
            command = [sys.executable, "manage.py", "notification_worker", "--poll", "0.2"]
            return live.Server(name, command, log_path=tmp_path / f"{name}.log", env=env, cwd=live.PROJECT_DIR).start()

        first = start("worker-1")
        try:
            # Killed while the 4th email waits for the server's answer to MAIL FROM.
            server.wait_for(messages=3, mails_started=4, timeout=30)
            first.stop(signal.SIGKILL)
        finally:
            first.stop()
        assert first.process.returncode == -signal.SIGKILL, first.describe()
        got_before = len(server.messages)
        assert 3 <= got_before < count
        assert email_rows().filter(state=NotificationState.SENT).count() == got_before  # the rest rolled back

        second = start("worker-2")
        try:
            server.wait_for(messages=count, timeout=30)
            deadline = time.monotonic() + 10
            while email_rows().exclude(state=NotificationState.SENT).exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)  # five more polls: anything sent twice would arrive now
        finally:
            assert second.stop(signal.SIGTERM) == 0, second.describe()  # SIGTERM stops it cleanly
        assert sorted(r.recipients[0] for r in server.messages) == addresses
    assert list(email_rows().values_list("state", flat=True).distinct()) == [NotificationState.SENT]
