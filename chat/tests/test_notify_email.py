"""The notification email (chat/notify/email.py), its unsubscribe page
(chat/notify/views.py) and the email settings (chatsite/settings.py).

The emails are sent by the worker to a real SMTP server (aiosmtpd) and read
back from what that server received.
"""

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from chat import commands
from chat.models import (
    Notification,
    NotificationChannel,
    NotificationPreferences,
    NotificationState,
)
from chat.notify import email as notification_email
from chat.notify import worker
from chat.tests import smtp_server
from chat.tests.factories import group_room, send
from chatsite.settings import email_settings_from_env, email_settings_from_url

SITE = "http://chat.example.test"


@pytest.fixture
def smtp(settings):
    with smtp_server.running() as server:
        for name, value in server.settings().items():
            setattr(settings, name, value)
        settings.CHAT_SITE_URL = SITE
        settings.DEFAULT_FROM_EMAIL = "chatsite <notify@chat.example.test>"
        yield server


def later():
    return timezone.now() + timedelta(minutes=11)


def direct_room(a, b):
    room, _created = commands.room_get_or_create_direct(actor=a, user_id=b.pk)
    return room


def email_enabled(user) -> bool:
    prefs = NotificationPreferences.objects.filter(user=user).first()
    return prefs is None or prefs.email_enabled


# --- settings -----------------------------------------------------------------------------------------
SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://mailer:p%40ss%3Aw%2Frd@mail.example.com:2525",
            {"EMAIL_HOST": "mail.example.com", "EMAIL_PORT": 2525, "EMAIL_HOST_USER": "mailer",
             "EMAIL_HOST_PASSWORD": "p@ss:w/rd", "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": False},
        ),
        ("smtp://mail.example.com", {"EMAIL_PORT": 25, "EMAIL_HOST_USER": "", "EMAIL_USE_TLS": False}),
        ("smtp://u:p@mail.example.com:587?tls=1", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False}),
        ("submission://u:p@mail.example.com", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False}),
        ("smtps://u:p@mail.example.com", {"EMAIL_PORT": 465, "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": True}),
        ("smtp://mail.example.com?ssl=1&timeout=5", {"EMAIL_PORT": 25, "EMAIL_USE_SSL": True, "EMAIL_TIMEOUT": 5.0}),
    ],
)
def test_email_url_gives_the_smtp_settings(url, expected):
    parsed = email_settings_from_url(url)
    assert parsed["EMAIL_BACKEND"] == SMTP
    assert {name: parsed[name] for name in expected} == expected


def test_console_email_url():
    assert email_settings_from_url("console://") == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}


@pytest.mark.parametrize(
    "url", ["ftp://mail.example.com", "smtp://", "smtp://mail.example.com:port", "smtps://h?tls=1", "submission://h?ssl=1"]
)
def test_a_bad_email_url_is_refused_at_startup(url):
    with pytest.raises(ImproperlyConfigured):
        email_settings_from_url(url)


def test_email_settings_from_the_environment(monkeypatch):
    for name in ("EMAIL_URL", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS", "EMAIL_USE_SSL"):
        monkeypatch.delenv(name, raising=False)
    assert email_settings_from_env()["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"

    monkeypatch.setenv("EMAIL_HOST", "relay.example.com")
    monkeypatch.setenv("EMAIL_HOST_USER", "me")
    monkeypatch.setenv("EMAIL_HOST_PASSWORD", "secret")
    monkeypatch.setenv("EMAIL_USE_SSL", "1")
    from_host = email_settings_from_env()
    assert (from_host["EMAIL_BACKEND"], from_host["EMAIL_HOST"], from_host["EMAIL_PORT"]) == (SMTP, "relay.example.com", 465)
    assert (from_host["EMAIL_HOST_USER"], from_host["EMAIL_HOST_PASSWORD"], from_host["EMAIL_USE_SSL"]) == ("me", "secret", True)

    monkeypatch.setenv("EMAIL_URL", "smtp://other.example.com:2525")
    assert email_settings_from_env()["EMAIL_HOST"] == "other.example.com"  # EMAIL_URL wins


@pytest.mark.parametrize(
    ("messages", "conversations", "subject"),
    [
        (1, 1, "1 new message in 1 conversation"),
        (2, 1, "2 new messages in 1 conversation"),
        (3, 2, "3 new messages in 2 conversations"),
    ],
)
def test_subject_counts_messages_and_conversations(messages, conversations, subject):
    assert notification_email.subject_for(messages=messages, conversations=conversations) == subject


# --- the email as the mail server gets it ---------------------------------------------------------------
@pytest.mark.django_db
def test_batch_email_has_both_parts_links_and_unsubscribe_headers(smtp, no_rate_limits, alice, bob, carol):
    direct = direct_room(alice, bob)
    first = send(direct, alice, "see you at <b>noon</b>")
    second = send(direct, alice, "and bring the slides")
    team = group_room(carol, alice, bob, name="Design")
    mention = send(team, carol, "@bob what do you think?")

    worker.process_due(now=later())

    (received,) = smtp.wait_for(messages=1)
    assert received.recipients == ["bob@example.com"]
    assert received.message["To"] == "bob@example.com"
    assert received.message["From"] == "chatsite <notify@chat.example.test>"
    assert received.message["Subject"] == "3 new messages in 2 conversations"
    assert received.message["Auto-Submitted"] == "auto-generated"
    unsubscribe = re.fullmatch(r"<(.+)>", received.message["List-Unsubscribe"].strip()).group(1)
    assert unsubscribe.startswith(f"{SITE}/notifications/unsubscribe/")
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    text, html = received.text, received.html
    links = [f"{SITE}/#room/{m.room_id}/{m.pk}" for m in (first, second, mention)]
    for part in (text, html):
        assert "Alice" in part  # the direct room is called by the other person's name
        assert "#Design" in part and "Carol" in part
        assert all(link in part for link in links)
        assert unsubscribe in part
    assert "see you at <b>noon</b>" in text and "@bob what do you think?" in text
    # The HTML part escapes what people wrote.
    assert "see you at &lt;b&gt;noon&lt;/b&gt;" in html and "<b>noon</b>" not in html
    assert "mentioned you" in text
    # In the order they were written: the direct room's messages first.
    assert text.index(links[0]) < text.index(links[1]) < text.index(links[2])


@pytest.mark.django_db
def test_content_can_be_left_out_of_the_email(smtp, settings, no_rate_limits, alice, bob):
    settings.CHAT_EMAIL_INCLUDE_CONTENT = False
    message = send(direct_room(alice, bob), alice, "the launch code is 1234")

    worker.process_due(now=later())

    (received,) = smtp.wait_for(messages=1)
    for part in (received.text, received.html):
        assert "launch code" not in part and "1234" not in part
        assert "Alice" in part and f"{SITE}/#room/{message.room_id}/{message.pk}" in part


# --- unsubscribing ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_unsubscribe_link_asks_on_get_and_turns_email_off_on_post(smtp, no_rate_limits, alice, bob):
    room = direct_room(alice, bob)
    send(room, alice, "first")
    worker.process_due(now=later())
    (received,) = smtp.wait_for(messages=1)
    url = re.fullmatch(r"<(.+)>", received.message["List-Unsubscribe"].strip()).group(1)
    path = url.removeprefix(SITE)
    browser = Client(enforce_csrf_checks=True)  # no session, no CSRF cookie: like a mail client

    page = browser.get(path)  # what a mail scanner's prefetch does

    assert page.status_code == 200
    assert b'<form method="post"' in page.content and b"Turn notification emails off" in page.content
    assert email_enabled(bob)
    send(room, alice, "second")  # email is still on: this one gets a row
    assert Notification.objects.filter(user=bob, channel=NotificationChannel.EMAIL, state=NotificationState.PENDING).count() == 1

    done = browser.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")

    assert done.status_code == 200 and b"Notification emails are off" in done.content
    assert not email_enabled(bob)
    send(room, alice, "third")
    worker.process_due(now=later() + timedelta(minutes=1))
    assert len(smtp.messages) == 1  # nothing more
    assert not Notification.objects.filter(user=bob, channel=NotificationChannel.EMAIL, state=NotificationState.PENDING).exists()


@pytest.mark.django_db
def test_the_button_on_the_page_unsubscribes_too(alice):
    path = notification_email.unsubscribe_url(user_id=alice.pk).split("://", 1)[1].split("/", 1)[1]
    response = Client(enforce_csrf_checks=True).post(f"/{path}")  # the form's empty POST
    assert response.status_code == 200
    assert not email_enabled(alice)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["tampered", "other salt", "garbage", "unknown user"])
def test_a_bad_unsubscribe_token_is_400_and_changes_nothing(alice, kind):
    good = notification_email.unsubscribe_token(user_id=alice.pk)
    token = {
        "tampered": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "other salt": signing.dumps(str(alice.pk), salt="chat.something-else"),
        "garbage": "not-a-token",
        "unknown user": notification_email.unsubscribe_token(user_id="00000000-0000-0000-0000-000000000000"),
    }[kind]
    path = f"/notifications/unsubscribe/{token}/"
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(path)
    post = browser.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")

    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
    assert b"not valid" in page.content and b"<form" not in page.content
    assert post.status_code == 400 and post.json()["code"] == "invalid_unsubscribe_token"
    assert email_enabled(alice)
    assert not NotificationPreferences.objects.filter(user=alice).exists()


def test_an_unsubscribe_token_carries_the_user_id_under_its_own_salt():
    token = notification_email.unsubscribe_token(user_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    assert notification_email.user_id_from_unsubscribe_token(token) == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    with pytest.raises(signing.BadSignature):
        signing.loads(token, salt="chat.other")


@pytest.mark.django_db
def test_a_repeated_one_click_post_past_the_rate_limit_gets_429_not_500(settings, alice):
    settings.CHAT_RATE_LIMITS = {"settings": "2/m"}
    path = "/" + notification_email.unsubscribe_url(user_id=alice.pk).split("://", 1)[1].split("/", 1)[1]
    answers = [Client().post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[-1].json()["code"] == "rate_limited" and int(answers[-1]["Retry-After"]) > 0
    assert not email_enabled(alice)
