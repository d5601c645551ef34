"""Notifications over REST: my settings, a room's level and mute, the Mentions
view, and Web Push subscriptions; over the WebSocket, the @room refusal."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chat import commands
from chat.models import MessageMention, NotificationPreferences, PushSubscription
from chat.services import members as member_services
from chat.services import rooms as room_services
from chat.tests.api_helpers import assert_error, client_for
from chat.tests.factories import delete, group_room, send

pytestmark = pytest.mark.django_db

SETTINGS = "/api/notification-settings/"
MENTIONS = "/api/mentions/"
SUBSCRIPTIONS = "/api/push-subscriptions/"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc:def"


@pytest.fixture
def api(db):
    return client_for


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def browser_subscription(endpoint: str = ENDPOINT) -> dict:
    """What a browser's PushSubscription.toJSON() gives: a fresh P-256 key and auth secret."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": endpoint, "expirationTime": None, "keys": {"p256dh": b64url(point), "auth": b64url(b"0123456789abcdef")}}


# --- my settings -----------------------------------------------------------------------
def test_settings_start_from_the_defaults_and_change_one_at_a_time(api, bob, settings):
    client = api(bob)
    body = client.get(SETTINGS).json()
    assert {k: v for k, v in body.items() if k != "push_public_key"} == {
        "desktop_enabled": False,
        "sound_enabled": True,
        "email_enabled": True,
        "email_delay_minutes": 10,
    }
    assert body["push_public_key"] == settings.CHAT_VAPID_PUBLIC_KEY
    changed = client.patch(SETTINGS, {"desktop_enabled": True, "email_delay_minutes": 30}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["desktop_enabled"], changed.json()["email_delay_minutes"], changed.json()["sound_enabled"]) == (True, 30, True)
    stored = NotificationPreferences.objects.get(user=bob)
    assert (stored.desktop_enabled, stored.email_delay_minutes) == (True, 30)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"email_delay_minutes": 0}, "email_delay_minutes"), ({"email_delay_minutes": "soon"}, "email_delay_minutes"), ({"sound_enabled": "loud"}, "sound_enabled")],
)
def test_bad_settings_get_400_naming_the_field(api, bob, body, field):
    assert_error(api(bob).patch(SETTINGS, body, format="json"), 400, fields=(field,))
    assert not NotificationPreferences.objects.filter(user=bob).exists()


def test_settings_need_a_login(api):
    assert api().get(SETTINGS).status_code == 401


# --- a room's level and mute -----------------------------------------------------------------
def test_room_level_and_mute_show_in_the_room_list(api, alice, bob):
    room = group_room(alice, bob)
    client = api(bob)
    url = f"/api/rooms/{room.pk}/notifications/"
    answer = client.patch(url, {"level": "all", "muted": True}, format="json")
    assert answer.status_code == 200, answer.content
    assert (answer.json()["notify_level"], answer.json()["notifications_muted"]) == ("all", True)
    listed = client.get(f"/api/rooms/{room.pk}/").json()
    assert (listed["notify_level"], listed["notify_level_is_default"], listed["notifications_muted"]) == ("all", False, True)
    assert api(alice).get(f"/api/rooms/{room.pk}/").json()["notify_level_is_default"] is True


def test_bad_room_level_gets_400_and_strangers_404(api, alice, bob, carol):
    room = group_room(alice, bob)
    url = f"/api/rooms/{room.pk}/notifications/"
    assert_error(api(bob).patch(url, {"level": "loud"}, format="json"), 400, fields=("level",))
    assert_error(api(carol).patch(url, {"level": "all"}, format="json"), 404, "room_not_found")


def test_room_list_counts_mentions_apart_from_unread(api, alice, bob, carol):
    room = group_room(alice, bob, carol)
    send(room, alice, "plain")
    send(room, alice, "@bob look")
    direct, _ = room_services.room_get_or_create_direct(user=alice, other=bob)
    send(direct, alice, "psst")
    listed = {item["id"]: item for item in api(bob).get("/api/rooms/").json()}
    assert (listed[str(room.pk)]["unread_count"], listed[str(room.pk)]["mention_count"]) == (3, 1)
    assert (listed[str(direct.pk)]["unread_count"], listed[str(direct.pk)]["mention_count"]) == (1, 1)


def test_read_answers_the_counts(api, alice, bob):
    room = group_room(alice, bob)
    message = send(room, alice, "@bob look")
    answer = api(bob).post(f"/api/rooms/{room.pk}/read/", {"seq": message.seq}, format="json").json()
    assert (answer["unread_count"], answer["mention_count"], answer["last_read_seq"]) == (0, 0, message.seq)


# --- the Mentions view ---------------------------------------------------------------------------
def test_mentions_list_newest_first_in_pages_across_rooms(api, alice, bob, carol):
    one = group_room(alice, bob, name="One")
    two = group_room(carol, bob, name="Two")
    sent = [send(one, alice, "@bob first"), send(two, carol, "@bob second"), send(one, alice, "@bob third")]
    send(one, alice, "not a mention")
    client = api(bob)
    page = client.get(MENTIONS, {"limit": 2})
    assert page.status_code == 200
    assert [item["message"]["id"] for item in page.json()] == [str(sent[2].pk), str(sent[1].pk)]
    first = page.json()[0]
    assert first["room"] == {"id": str(one.pk), "name": "One", "room_type": "group"} and first["kind"] == "user"
    assert first["message"]["mentions"] == [{"kind": "user", "user_id": str(bob.pk)}]
    rest = client.get(MENTIONS, {"limit": 2, "cursor": page["X-Next-Cursor"]})
    assert [item["message"]["id"] for item in rest.json()] == [str(sent[0].pk)]
    assert "X-Next-Cursor" not in rest


def test_mentions_leave_out_deleted_messages_and_rooms_i_left(api, alice, bob, carol):
    one = group_room(alice, bob, name="One")
    two = group_room(carol, bob, name="Two")
    gone = send(one, alice, "@bob oops")
    send(two, carol, "@bob there")
    kept = send(one, alice, "@bob here")
    delete(gone, alice)
    member_services.room_leave(room=two, user=bob)
    assert [item["message"]["id"] for item in api(bob).get(MENTIONS).json()] == [str(kept.pk)]
    assert MessageMention.objects.filter(user=bob).count() == 3  # kept, only not shown


def test_mentions_bad_cursor_gets_400(api, bob):
    assert_error(api(bob).get(MENTIONS, {"cursor": "nonsense"}), 400, "invalid_cursor")


def test_room_mention_by_a_member_is_refused_over_rest(api, alice, bob):
    room = group_room(alice, bob)
    response = api(bob).post(f"/api/rooms/{room.pk}/messages/", {"content": "@room hi"}, format="json")
    assert_error(response, 403, "mention_room_forbidden")


# --- Web Push subscriptions --------------------------------------------------------------------------
def test_a_browser_subscribes_lists_and_unsubscribes(api, bob):
    client = api(bob)
    created = client.post(SUBSCRIPTIONS, browser_subscription(), format="json", HTTP_USER_AGENT="Firefox")
    assert created.status_code == 201, created.content
    assert created.json()["endpoint"] == ENDPOINT and created.json()["user_agent"] == "Firefox"
    again = client.post(SUBSCRIPTIONS, browser_subscription(), format="json")
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert [item["id"] for item in client.get(SUBSCRIPTIONS).json()] == [created.json()["id"]]
    assert client.delete(f"{SUBSCRIPTIONS}{created.json()['id']}/").status_code == 204
    assert not PushSubscription.objects.exists()


def test_a_new_login_in_the_same_browser_takes_the_subscription_over(api, alice, bob):
    api(alice).post(SUBSCRIPTIONS, browser_subscription(), format="json")
    api(bob).post(SUBSCRIPTIONS, browser_subscription(), format="json")
    assert list(PushSubscription.objects.values_list("user__username", flat=True)) == ["bob"]
    assert api(alice).get(SUBSCRIPTIONS).json() == []


def test_someone_elses_subscription_cannot_be_removed(api, alice, bob):
    made = api(alice).post(SUBSCRIPTIONS, browser_subscription(), format="json").json()
    assert_error(api(bob).delete(f"{SUBSCRIPTIONS}{made['id']}/"), 404, "push_subscription_not_found")
    assert PushSubscription.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "http://fcm.googleapis.com/fcm/send/x"}, "endpoint"),
        ({"endpoint": "https://127.0.0.1/push"}, "endpoint"),
        ({"endpoint": "https://10.0.0.5/push"}, "endpoint"),
        ({"endpoint": "https://evil.example.com/push"}, "endpoint"),
        ({"endpoint": "not a url"}, "endpoint"),
        ({"keys": {"p256dh": "AAAA", "auth": b64url(b"0123456789abcdef")}}, "keys.p256dh"),
        ({"keys": {"p256dh": "@@@", "auth": b64url(b"0123456789abcdef")}}, "keys.p256dh"),
        ({"auth": "short"}, "keys.auth"),
    ],
)
def test_a_foreign_or_malformed_subscription_gets_400_naming_the_field(api, bob, change, field):
    body = browser_subscription()
    if "auth" in change:
        body["keys"]["auth"] = change["auth"]
    else:
        body.update(change)
    assert_error(api(bob).post(SUBSCRIPTIONS, body, format="json"), 400, fields=(field,))
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize("keys", [None, "x", {"p256dh": "x"}, []])
def test_a_subscription_without_proper_keys_gets_400_naming_each_key(api, bob, keys):
    body = {"endpoint": ENDPOINT} if keys is None else {"endpoint": ENDPOINT, "keys": keys}
    assert_error(api(bob).post(SUBSCRIPTIONS, body, format="json"), 400, fields=("keys.p256dh", "keys.auth"))


def test_a_subscription_that_is_not_an_object_gets_400(api, bob):
    assert_error(api(bob).post(SUBSCRIPTIONS, [ENDPOINT], format="json"), 400)


def test_unknown_settings_get_400_and_change_nothing(api, bob):
    assert_error(api(bob).patch(SETTINGS, {"email_enabled": False, "colour": "red"}, format="json"), 400, "unknown_setting", fields=("colour",))
    assert not NotificationPreferences.objects.filter(user=bob).exists()


def test_preferences_command_turning_email_off_is_what_unsubscribe_uses(alice, bob):
    room = group_room(alice, bob)
    send(room, alice, "@bob one")
    commands.notification_preferences_update(actor=bob, email_enabled=False)
    assert NotificationPreferences.objects.get(user=bob).email_enabled is False


def test_a_mention_added_by_editing_an_old_message_keeps_the_messages_place(api, alice, bob):
    room = group_room(alice, bob)
    old = send(room, alice, "see the plan")
    newer = send(room, alice, "@bob the plan is out")
    commands.message_edit(actor=alice, message_id=old.pk, content="@bob see the plan")
    assert [item["message"]["id"] for item in api(bob).get(MENTIONS).json()] == [str(newer.pk), str(old.pk)]
