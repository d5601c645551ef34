"""Web Push: what a subscription may be, and what reaches the browser.

Pushes go to a real push service stand-in on a loopback port
(chat/tests/push_receiver.py) that checks the VAPID JWT and decrypts the
payload with the subscription's own keys, so the whole RFC 8291/8292 path runs.
"""

import base64
import json
import logging
import socket
import time

import pytest
import requests
from asgiref.sync import async_to_sync
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPusher

from chat import commands, presence
from chat.models import (
    Notification,
    NotificationChannel,
    NotificationReason,
    NotificationState,
    PushSubscription,
)
from chat.notify import push
from chat.tests.factories import group_room, send
from chat.tests.push_receiver import (
    BrowserSubscription,
    PushReceiver,
    b64url_decode,
    b64url_encode,
)
from chatsite.core.exceptions import Invalid

pytestmark = pytest.mark.postgres

FCM = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bH"


def browser_keys() -> dict:
    return BrowserSubscription("", ec.generate_private_key(ec.SECP256R1()), b"0123456789abcdef").to_json()["keys"]


def subscription(endpoint=FCM, **keys) -> dict:
    return {"endpoint": endpoint, "expirationTime": None, "keys": {**browser_keys(), **keys}}


def refusal(data) -> Invalid:
    with pytest.raises(Invalid) as exc:
        push.validate_subscription(data)
    assert exc.value.status == 400
    return exc.value


# --- validate_subscription ------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/cXk2:APA91bGx",  # Chrome, Edge on Android, Opera, Brave
        "https://jmt17.google.com/fcm/send/cXk2:APA91bGx",  # Chromium without Google's keys (Playwright)
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",  # Firefox
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAD",  # Edge on Windows
        "https://web.push.apple.com/QF8w7V0M5Z3hbQiw4tIsMBJ",  # Safari
    ],
)
def test_endpoints_of_the_browsers_push_services_are_accepted(endpoint):
    keys = browser_keys()

    cleaned = push.validate_subscription({"endpoint": endpoint, "keys": keys, "expirationTime": None})

    assert cleaned == {"endpoint": endpoint, "p256dh": keys["p256dh"], "auth": keys["auth"]}


def test_keys_are_stored_as_unpadded_base64url():
    keys = browser_keys()
    padded = {"p256dh": keys["p256dh"] + "=", "auth": keys["auth"] + "=="}

    cleaned = push.validate_subscription(subscription(**padded))

    assert (cleaned["p256dh"], cleaned["auth"]) == (keys["p256dh"], keys["auth"])


@pytest.mark.parametrize(
    "endpoint",
    ["http://fcm.googleapis.com/fcm/send/x", "ftp://fcm.googleapis.com/x", "javascript:alert(1)", "wss://fcm.googleapis.com/x"],
)
def test_only_https_endpoints_are_accepted(endpoint):
    error = refusal(subscription(endpoint))
    assert error.code == "invalid_push_endpoint"
    assert list(error.fields) == ["endpoint"]


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://push.example.com/send/x",
        "https://fcm.googleapis.com.example.com/fcm/send/x",
        "https://evilfcm.googleapis.com/fcm/send/x",
        "https://googleapis.com/fcm/send/x",
        "https://fcm.googleapis.com./fcm/send/x",
    ],
)
def test_foreign_hosts_are_refused(endpoint):
    error = refusal(subscription(endpoint))
    assert error.code == "push_service_not_allowed"
    assert error.fields == {"endpoint": ["Not the push service of a supported browser."]}


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.0.0.8/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fe80::1]/x",
        "https://localhost/x",
        "https://push.localhost/x",
        "https://2130706433/x",  # 127.0.0.1 as one number
        "https://127.1/x",
        "https://0x7f.0.0.1/x",
    ],
)
def test_addresses_and_localhost_are_refused(endpoint, settings):
    # Even when a listed suffix would match them: an address must be listed whole.
    settings.CHAT_PUSH_ALLOWED_HOSTS = [*settings.CHAT_PUSH_ALLOWED_HOSTS, "0.1", "1", "localhost.", "com"]
    error = refusal(subscription(endpoint))
    assert error.code == "push_service_not_allowed"
    assert list(error.fields) == ["endpoint"]


def test_an_address_listed_exactly_is_allowed_as_the_tests_receiver_is(settings):
    settings.CHAT_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CHAT_PUSH_REQUIRE_HTTPS = False

    assert push.validate_subscription(subscription("http://127.0.0.1:8123/push/x"))["endpoint"] == (
        "http://127.0.0.1:8123/push/x"
    )
    assert refusal(subscription("http://127.0.0.2:8123/push/x")).code == "push_service_not_allowed"
    assert refusal(subscription("http://localhost:8123/push/x")).code == "push_service_not_allowed"


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://user:secret@fcm.googleapis.com/fcm/send/x",
        "https://fcm.googleapis.com@evil.example.com/fcm/send/x",
        "https://@fcm.googleapis.com/fcm/send/x",
    ],
)
def test_endpoints_with_user_info_are_refused(endpoint):
    error = refusal(subscription(endpoint))
    assert error.code == "invalid_push_endpoint"
    assert list(error.fields) == ["endpoint"]


@pytest.mark.parametrize(
    "endpoint",
    [
        None,
        "",
        42,
        ["https://fcm.googleapis.com/x"],
        "not a url",
        "https://",
        "https://fcm.googleapis.com:99999/x",
        "https://fcm.googleapis.com/a b",
        "https://fcm.googleapis.com/x\n",
        "https://fcm.googleapis.com/x#fragment",
        "https://fcm.googleapis.com/é",
    ],
)
def test_malformed_endpoints_are_refused(endpoint):
    error = refusal(subscription(endpoint))
    assert error.code == "invalid_push_endpoint"
    assert list(error.fields) == ["endpoint"]


def test_endpoint_is_at_most_1000_characters():
    at_limit = FCM + "x" * (1000 - len(FCM))
    assert push.validate_subscription(subscription(at_limit))["endpoint"] == at_limit

    error = refusal(subscription(at_limit + "x"))
    assert error.code == "invalid_push_endpoint"
    assert error.fields == {"endpoint": ["At most 1000 characters."]}


def off_curve_point() -> str:
    point = bytearray(b64url_decode(browser_keys()["p256dh"]))
    point[-1] ^= 1  # the same x with another y: not on the curve
    return b64url_encode(bytes(point))


def compressed_point() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return b64url_encode(key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint))


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ({"p256dh": None}, "keys.p256dh"),
        ({"p256dh": ""}, "keys.p256dh"),
        ({"p256dh": 65}, "keys.p256dh"),
        ({"p256dh": "not base64url!"}, "keys.p256dh"),
        ({"p256dh": "BPx+/abc"}, "keys.p256dh"),  # standard base64, not base64url
        ({"p256dh": b64url_encode(b"\x04" + bytes(63))}, "keys.p256dh"),  # 64 bytes
        ({"p256dh": b64url_encode(b"\x02" + bytes(64))}, "keys.p256dh"),  # no uncompressed prefix
        ({"p256dh": compressed_point()}, "keys.p256dh"),
        ({"p256dh": off_curve_point()}, "keys.p256dh"),
        ({"p256dh": b64url_encode(b"\x04" + bytes(64))}, "keys.p256dh"),  # (0, 0)
        ({"auth": None}, "keys.auth"),
        ({"auth": b64url_encode(bytes(15))}, "keys.auth"),
        ({"auth": b64url_encode(bytes(17))}, "keys.auth"),
        ({"auth": "A" * 300}, "keys.auth"),
        ({"auth": "%%%%"}, "keys.auth"),
    ],
)
def test_malformed_keys_are_refused_with_the_field_named(keys, field):
    error = refusal(subscription(**keys))
    assert error.code == "invalid_push_key"
    assert list(error.fields) == [field]
    assert error.fields[field] and all(isinstance(message, str) for message in error.fields[field])


def test_every_field_at_fault_is_named_at_once():
    error = refusal({"endpoint": "https://push.example.com/x", "keys": {"p256dh": "xx"}})
    assert error.code == "invalid_push_subscription"
    assert set(error.fields) == {"endpoint", "keys.p256dh", "keys.auth"}


@pytest.mark.parametrize("data", [None, [], "https://fcm.googleapis.com/x", 7])
def test_a_subscription_must_be_an_object(data):
    error = refusal(data)
    assert error.code == "invalid_push_subscription"
    assert error.fields


def test_missing_keys_object_names_both_keys():
    error = refusal({"endpoint": FCM, "keys": "p256dh"})
    assert error.code == "invalid_push_subscription"
    assert set(error.fields) == {"keys.p256dh", "keys.auth"}


# --- deliver() against a real receiver ----------------------------------------------------


@pytest.fixture
def receiver(settings):
    settings.CHAT_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CHAT_PUSH_REQUIRE_HTTPS = False
    with PushReceiver(settings.CHAT_VAPID_PUBLIC_KEY) as made:
        yield made


def subscribe(user, receiver) -> BrowserSubscription:
    """A browser of ``user`` subscribes, through the command the REST endpoint calls."""
    browser = receiver.subscribe()
    commands.push_subscription_add(actor=user, subscription=push.validate_subscription(browser.to_json()))
    return browser


@pytest.fixture
def general(alice, bob, carol):
    return group_room(alice, bob, carol, name="general")


def push_row(message, user) -> Notification:
    """The push row the message's transaction wrote for ``user``."""
    return Notification.objects.select_related("user", "room", "message__sender").get(
        message=message, user=user, channel=NotificationChannel.PUSH
    )


def mention_row(general, sender, user, text="@bob can you look at the launch checklist?"):
    return push_row(send(general, sender, text), user)


@pytest.mark.django_db
def test_push_reaches_the_browser_signed_and_encrypted(general, alice, bob, receiver, settings):
    browser = subscribe(bob, receiver)
    row = mention_row(general, alice, bob)
    before = time.time()

    state = push.deliver(row)

    assert state == NotificationState.SENT
    assert receiver.rejected == []
    (received,) = receiver.received_by(browser)
    # The receiver verified the ES256 signature with k, and k is the server's key.
    assert received.claims["aud"] == receiver.origin
    assert received.claims["sub"] == settings.CHAT_VAPID_SUBJECT
    assert before < received.claims["exp"] <= before + 24 * 60 * 60
    assert received.headers["content-encoding"] == "aes128gcm"
    assert received.headers["ttl"] == str(settings.CHAT_PUSH_TTL)
    assert received.headers["urgency"] == "high"
    assert received.payload == {
        "title": "Alice mentioned you in #general",
        "body": "",
        "room": str(general.pk),
        "message": str(row.message_id),
        "url": f"/#room/{general.pk}/{row.message_id}",
        "tag": str(row.message_id),
    }
    assert PushSubscription.objects.get(endpoint=browser.endpoint).last_used_at is not None


@pytest.mark.django_db
def test_push_carries_no_message_text_by_default(general, alice, bob, receiver):
    browser = subscribe(bob, receiver)
    row = mention_row(general, alice, bob, "@bob the vault code is 7391")

    assert push.deliver(row) == NotificationState.SENT

    (received,) = receiver.received_by(browser)
    decrypted = json.dumps(received.payload)
    assert "7391" not in decrypted and "vault" not in decrypted


@pytest.mark.django_db
def test_push_carries_an_excerpt_when_content_may_leave(general, alice, bob, receiver, settings):
    settings.CHAT_PUSH_INCLUDE_CONTENT = True
    browser = subscribe(bob, receiver)
    short = mention_row(general, alice, bob, "@bob   the vault code\nis 7391")
    long = mention_row(general, alice, bob, "@bob " + "word " * 100)

    assert push.deliver(short) == NotificationState.SENT
    assert push.deliver(long) == NotificationState.SENT

    first, second = (received.payload for received in receiver.received_by(browser))
    assert first["title"] == "Alice mentioned you in #general"
    assert first["body"] == "@bob the vault code is 7391"
    assert len(second["body"]) == push.EXCERPT_LENGTH and second["body"].endswith("…")


@pytest.mark.django_db
def test_titles_say_who_wrote_where_and_why(general, alice, bob):
    direct, _ = commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
    message = send(general, alice, "hello")
    in_direct = send(direct, alice, "hello")

    def title(room, message, reason):
        return push.payload_for(Notification(user=bob, room=room, message=message, reason=reason))["title"]

    assert title(general, message, NotificationReason.MESSAGE) == "New message from Alice in #general"
    assert title(general, message, NotificationReason.MENTION) == "Alice mentioned you in #general"
    assert title(direct, in_direct, NotificationReason.DIRECT) == "Alice sent you a message"


@pytest.mark.django_db
@pytest.mark.parametrize("status", [410, 404])
def test_a_subscription_the_push_service_no_longer_knows_is_deleted(general, alice, bob, receiver, status):
    gone = subscribe(bob, receiver)
    kept = subscribe(bob, receiver)
    receiver.answer_once(gone.endpoint, status)

    state = push.deliver(mention_row(general, alice, bob))

    assert state == NotificationState.SENT  # the other browser got it
    assert receiver.answered == [(gone.endpoint, status)]
    assert receiver.received_by(gone) == [] and len(receiver.received_by(kept)) == 1
    assert list(PushSubscription.objects.filter(user=bob).values_list("endpoint", flat=True)) == [kept.endpoint]


@pytest.mark.django_db
def test_when_the_only_subscription_is_gone_the_row_is_skipped(general, alice, bob, receiver):
    gone = subscribe(bob, receiver)
    receiver.answer_once(gone.endpoint, 410)
    row = mention_row(general, alice, bob)

    assert push.deliver(row) == NotificationState.SKIPPED
    assert not PushSubscription.objects.filter(user=bob).exists()
    assert "gone" in row.last_error


@pytest.mark.django_db
def test_every_browser_of_the_user_gets_the_push_each_with_its_own_keys(general, alice, bob, carol, receiver):
    laptop, phone = subscribe(bob, receiver), subscribe(bob, receiver)
    carols = subscribe(carol, receiver)

    assert push.deliver(mention_row(general, alice, bob)) == NotificationState.SENT

    assert len(receiver.received_by(laptop)) == 1 and len(receiver.received_by(phone)) == 1
    assert receiver.received_by(carols) == []
    assert receiver.received_by(laptop)[0].payload == receiver.received_by(phone)[0].payload
    assert PushSubscription.objects.filter(user=bob, last_used_at__isnull=False).count() == 2


@pytest.mark.django_db
def test_a_user_without_subscriptions_is_skipped(general, alice, bob, receiver):
    browser = subscribe(bob, receiver)
    row = mention_row(general, alice, bob)
    # The browser unsubscribed after the row was written.
    commands.push_subscription_remove(
        actor=bob, subscription_id=PushSubscription.objects.get(endpoint=browser.endpoint).pk
    )

    assert push.deliver(row) == NotificationState.SKIPPED
    assert receiver.requests == 0


@pytest.mark.django_db
@pytest.mark.parametrize("status", [500, 429, 403])
def test_a_push_service_error_fails_the_row_and_logs_no_payload(general, alice, bob, receiver, status, caplog):
    browser = subscribe(bob, receiver)
    receiver.answer_once(browser.endpoint, status)
    row = mention_row(general, alice, bob)

    with caplog.at_level(logging.INFO, logger="chat.notify.push"):
        state = push.deliver(row)

    assert state == NotificationState.FAILED
    assert PushSubscription.objects.filter(endpoint=browser.endpoint).exists()  # kept for the retry
    assert str(status) in row.last_error
    (record,) = [record for record in caplog.records if record.name == "chat.notify.push"]
    assert record.levelno == logging.WARNING and str(status) in record.getMessage()
    # Neither the payload nor the endpoint (a bearer capability) is logged.
    assert "mentioned" not in caplog.text and "launch" not in caplog.text
    assert browser.endpoint.rsplit("/", 1)[1] not in caplog.text


@pytest.mark.django_db
def test_redirects_are_not_followed(general, alice, bob, receiver):
    browser = subscribe(bob, receiver)
    elsewhere = receiver.subscribe()  # a URL the server was never given
    receiver.answer_once(browser.endpoint, 307, location=elsewhere.endpoint)

    assert push.deliver(mention_row(general, alice, bob)) == NotificationState.FAILED
    assert receiver.requests == 1
    assert receiver.received_by(elsewhere) == []


@pytest.mark.django_db
def test_a_stored_endpoint_no_longer_allowed_is_not_posted_to(general, alice, bob, receiver, settings):
    subscribe(bob, receiver)
    settings.CHAT_PUSH_ALLOWED_HOSTS = ["fcm.googleapis.com"]

    assert push.deliver(mention_row(general, alice, bob)) == NotificationState.FAILED
    assert receiver.requests == 0


@pytest.mark.django_db
def test_an_unreachable_push_service_fails_the_row(general, alice, bob, receiver):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    browser = BrowserSubscription(f"http://127.0.0.1:{closed_port}/push/x", ec.generate_private_key(ec.SECP256R1()), bytes(16))
    commands.push_subscription_add(actor=bob, subscription=push.validate_subscription(browser.to_json()))
    row = mention_row(general, alice, bob)

    assert push.deliver(row) == NotificationState.FAILED
    assert "ConnectionError" in row.last_error


@pytest.mark.django_db
def test_a_pem_vapid_key_from_the_environment_signs_as_well(general, alice, bob, settings):
    from chatsite.settings import _vapid_public_key

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    settings.CHAT_VAPID_PRIVATE_KEY = pem.decode().strip()
    settings.CHAT_VAPID_PUBLIC_KEY = _vapid_public_key(settings.CHAT_VAPID_PRIVATE_KEY)
    expected = b64url_encode(key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
    assert settings.CHAT_VAPID_PUBLIC_KEY == expected
    settings.CHAT_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CHAT_PUSH_REQUIRE_HTTPS = False
    with PushReceiver(expected) as receiver:
        browser = subscribe(bob, receiver)

        assert push.deliver(mention_row(general, alice, bob)) == NotificationState.SENT

        assert receiver.rejected == [] and len(receiver.received_by(browser)) == 1


@pytest.mark.django_db
def test_a_push_signed_with_another_key_is_refused_by_the_receiver(general, alice, bob, receiver, settings):
    subscribe(bob, receiver)
    other = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    settings.CHAT_VAPID_PRIVATE_KEY = b64url_encode(other.to_bytes(32, "big"))

    assert push.deliver(mention_row(general, alice, bob)) == NotificationState.FAILED
    (rejection,) = receiver.rejected
    assert rejection.status == 403 and "k is not" in rejection.reason


# --- the receiver refuses what a push service refuses -------------------------------------


def public_key_of(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url_encode(key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def post_push(browser, claims, *, signer, k=None):
    """POST an encrypted push to ``browser``, its VAPID JWT over ``claims``
    signed by ``signer`` and its header naming ``k`` (default: the signer's key)."""
    vapid = Vapid(signer, conf={"no-strict": True})  # lets a bad "sub" be signed
    token = vapid.sign(claims)["Authorization"].split("t=", 1)[1].split(",", 1)[0]
    body = WebPusher(browser.to_json()).encode(b'{"title": "t"}')["body"]
    headers = {
        "Authorization": f"vapid t={token}, k={k or public_key_of(signer)}",
        "TTL": "60",
        "Content-Encoding": "aes128gcm",
    }
    return requests.post(browser.endpoint, data=body, headers=headers, timeout=5)


def test_the_receiver_checks_the_jwt_as_a_push_service_does():
    server_key, impostor = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    with PushReceiver(public_key_of(server_key)) as receiver:
        browser = receiver.subscribe()
        good = {"aud": receiver.origin, "exp": int(time.time()) + 3600, "sub": "mailto:ops@chat.example.com"}

        assert post_push(browser, good, signer=server_key).status_code == 201
        assert post_push(browser, {**good, "aud": "http://127.0.0.1:1"}, signer=server_key).status_code == 401
        assert post_push(browser, {**good, "exp": int(time.time()) - 10}, signer=server_key).status_code == 401
        assert post_push(browser, {**good, "exp": int(time.time()) + 25 * 3600}, signer=server_key).status_code == 401
        assert post_push(browser, {**good, "sub": "ops"}, signer=server_key).status_code == 401
        assert post_push(browser, good, signer=impostor).status_code == 403
        # Signed by the impostor while naming the server's key: the signature fails.
        assert post_push(browser, good, signer=impostor, k=public_key_of(server_key)).status_code == 401

        reasons = [rejection.reason for rejection in receiver.rejected]
        assert [reason.split()[0] for reason in reasons] == ["aud", "exp", "exp", "sub", "k", "JWT"]
        assert reasons[-1] == "JWT signature does not verify with k"
        assert len(receiver.received_by(browser)) == 1


# --- the worker, end to end ------------------------------------------------------------------


@pytest.mark.django_db
def test_worker_pushes_a_mention_to_a_user_with_no_open_socket(general, alice, bob, receiver):
    from chat.notify import worker

    browser = subscribe(bob, receiver)
    row = mention_row(general, alice, bob)
    assert row.state == NotificationState.PENDING

    worker.process_due()

    row.refresh_from_db()
    assert row.state == NotificationState.SENT and row.sent_at is not None
    assert receiver.rejected == []
    (received,) = receiver.received_by(browser)
    assert received.payload["message"] == str(row.message_id)


@pytest.mark.django_db
def test_worker_skips_the_push_while_the_user_has_a_live_socket(general, alice, bob, receiver):
    from chat.notify import worker

    subscribe(bob, receiver)
    row = mention_row(general, alice, bob)
    channel = f"test-push-{row.pk}"
    async_to_sync(presence.backend().add)(str(bob.pk), channel, time.time() + presence.SOCKET_TTL)
    try:
        worker.process_due()
    finally:
        async_to_sync(presence.backend().remove)(str(bob.pk), channel)

    row.refresh_from_db()
    assert row.state == NotificationState.SKIPPED
    assert receiver.requests == 0


def test_application_server_key_is_the_uncompressed_public_point(settings):
    raw = b64url_decode(settings.CHAT_VAPID_PUBLIC_KEY)
    assert len(raw) == 65 and raw[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == settings.CHAT_VAPID_PUBLIC_KEY


# --- configuration ----------------------------------------------------------------------------


def test_a_generated_vapid_key_is_a_deploy_warning(settings):
    import chatsite.checks as project_checks

    settings.GENERATED_SECRETS = {"CHAT_VAPID_PRIVATE_KEY"}

    (warning,) = project_checks.check_generated_secrets()

    assert warning.id == "chatsite.W004"
    assert "CHAT_VAPID_PRIVATE_KEY" in warning.msg and "vapid --gen" in warning.hint
    assert settings.CHAT_VAPID_PRIVATE_KEY not in warning.msg + warning.hint


@pytest.mark.parametrize(
    ("subject", "warned"),
    [
        ("mailto:admin@localhost", True),
        ("mailto:chat@box.local", True),
        ("mailto:ops@chat.example.com", False),
        ("https://chat.example.com", False),
    ],
)
def test_a_vapid_subject_apple_would_refuse_is_a_deploy_warning(settings, subject, warned):
    import chatsite.checks as project_checks

    settings.CHAT_VAPID_SUBJECT = subject

    assert [issue.id for issue in project_checks.check_vapid_subject()] == (["chatsite.W005"] if warned else [])


@pytest.mark.parametrize("value", ["not a key", b64url_encode(bytes(31)), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"])
def test_an_unusable_vapid_key_stops_the_settings_without_echoing_it(value):
    from django.core.exceptions import ImproperlyConfigured

    from chatsite.settings import _vapid_public_key

    with pytest.raises(ImproperlyConfigured) as exc:
        _vapid_public_key(value)
    assert value not in str(exc.value)
