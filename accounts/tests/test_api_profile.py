"""The profile: avatar, password change, time zone and the list of sessions
with "log out everywhere else"."""

import io
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from accounts import avatars
from accounts.models import User, UserSession
from chat.tests.api_helpers import PASSWORD, assert_error, assert_rate_limited, client_for, jwt_client, png_bytes, upload
from chat.tests.factories import group_room, send

ME = "/api/auth/me/"
AVATAR = "/api/auth/me/avatar/"
PASSWORD_URL = "/api/auth/password/"
SESSIONS = "/api/auth/sessions/"
LOGOUT_OTHERS = "/api/auth/sessions/logout-others/"
REFRESH = "/api/auth/token/refresh/"
STRONG = "a long and unusual passphrase 42"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def put_avatar(client, content: bytes, name="me.png", content_type="image/png"):
    return client.put(AVATAR, {"file": upload(name, content, content_type)}, format="multipart")


def jpeg_rotated_with_gps() -> bytes:
    """200 × 100, left half red, right half blue, stored sideways: EXIF
    orientation 6 (turn 90° clockwise to show it), and a GPS position."""
    image = Image.new("RGB", (200, 100), "blue")
    image.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "CameraMaker"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 24.0)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb's shape)."""
    data = bytearray(png_bytes(4, 4))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def fetch_image(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    body = b"".join(response.streaming_content)
    return response, body


# --- Avatar -----------------------------------------------------------------
def test_avatar_upload_makes_square_webp_sizes_shown_to_people_who_see_me(alice, bob):
    response = put_avatar(client_for(alice), png_bytes(300, 200, "green"))

    assert response.status_code == 200, response.content
    avatar = response.json()["avatar"]
    assert set(avatar) == {"32", "64", "128"}
    assert avatar["64"].startswith(f"/api/users/{alice.pk}/avatar/")
    for size in (32, 64, 128):
        served, body = fetch_image(client_for(bob), avatar[str(size)])  # same company
        assert served["Content-Type"] == "image/webp"
        assert "immutable" in served["Cache-Control"] and "private" in served["Cache-Control"]
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "WEBP" and image.size == (size, size)
            assert image.convert("RGB").getpixel((size // 2, size // 2))[1] > 100  # green
    assert client_for(bob).get(ME).json()["avatar"] is None


def test_avatar_is_turned_upright_and_loses_its_metadata(alice):
    original = jpeg_rotated_with_gps()
    with Image.open(io.BytesIO(original)) as source:  # the test's input really has them
        assert source.getexif()[0x0112] == 6 and source.getexif().get_ifd(0x8825)

    response = put_avatar(client_for(alice), original, "photo.jpg", "image/jpeg")

    assert response.status_code == 200, response.content
    _served, body = fetch_image(client_for(alice), response.json()["avatar"]["128"])
    assert b"Exif" not in body and b"CameraMaker" not in body and b"XMP" not in body
    with Image.open(io.BytesIO(body)) as image:
        assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
        rgb = image.convert("RGB")
        top, bottom = rgb.getpixel((64, 8)), rgb.getpixel((64, 120))
    # Upright: the red half (the left of the stored picture) is now on top.
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_a_decompression_bomb_is_refused_before_it_is_decoded(alice):
    response = put_avatar(client_for(alice), png_claiming(30_000, 30_000))

    body = assert_error(response, 413, "image_too_large")
    assert "pixels" in body["detail"]
    assert User.objects.get(pk=alice.pk).avatar_key == ""


@pytest.mark.parametrize(
    "content",
    (b"just some text, not a picture", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', b"%PDF-1.4\n"),
    ids=("text", "svg", "pdf"),
)
def test_what_is_not_an_image_is_refused_as_unsupported(alice, content):
    body = assert_error(put_avatar(client_for(alice), content, "me.png"), 415, "not_an_image")
    assert "PNG" in body["detail"]


def test_a_damaged_image_and_a_missing_file_are_refused(alice):
    truncated = png_bytes(400, 400)[:200]
    assert_error(put_avatar(client_for(alice), truncated), 400, "invalid_image")
    assert_error(client_for(alice).put(AVATAR, {}, format="multipart"), 400, "file_required", fields=("file",))
    assert_error(put_avatar(client_for(alice), b""), 400, "file_empty")


def test_an_avatar_over_the_upload_limit_is_refused(alice, settings):
    settings.CHAT_MAX_ATTACHMENT_BYTES = 1000
    assert_error(put_avatar(client_for(alice), png_bytes(300, 300) + b"\0" * 1000), 413, "file_too_large")


def test_replacing_and_removing_an_avatar_deletes_the_old_files(alice, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = put_avatar(client_for(alice), png_bytes(50, 50, "red")).json()["avatar"]
    old_key = User.objects.get(pk=alice.pk).avatar_key
    with django_capture_on_commit_callbacks(execute=True):
        second = put_avatar(client_for(alice), png_bytes(50, 50, "blue")).json()["avatar"]

    assert second["32"] != first["32"]
    assert_error(client_for(bob).get(first["32"]), 404, "avatar_not_found")
    assert not default_storage.exists(avatars.path(alice.pk, old_key, 32))
    new_key = User.objects.get(pk=alice.pk).avatar_key

    with django_capture_on_commit_callbacks(execute=True):
        removed = client_for(alice).delete(AVATAR)

    assert removed.status_code == 200 and removed.json()["avatar"] is None
    assert_error(client_for(bob).get(second["32"]), 404, "avatar_not_found")
    assert not any(default_storage.exists(avatars.path(alice.pk, new_key, size)) for size in avatars.SIZES)


def test_an_avatar_is_served_only_to_people_who_see_the_person(alice, make_user):
    stranger = make_user(username="sam", company=None)
    roommate = make_user(username="rita", company=None)
    group_room(alice, roommate, name="Across companies")
    url = put_avatar(client_for(alice), png_bytes(40, 40)).json()["avatar"]["32"]

    assert_error(client_for(stranger).get(url), 404, "avatar_not_found")
    assert_error(APIClient().get(url), 401)
    assert fetch_image(client_for(roommate), url)[0].status_code == 200
    assert_error(client_for(roommate).get(url.replace("/32/", "/48/")), 404, "avatar_not_found")


def test_the_avatar_is_in_messages_members_and_the_page(alice, bob, client):
    avatar = put_avatar(client_for(alice), png_bytes(40, 40)).json()["avatar"]
    room = group_room(alice, bob)
    send(room, alice, "look at my face")

    messages = client_for(bob).get(f"/api/rooms/{room.pk}/messages/").json()
    messages = messages["results"] if isinstance(messages, dict) else messages
    sent = [m for m in messages if m["content"] == "look at my face"][0]
    assert sent["sender"]["avatar"] == avatar
    members = client_for(bob).get(f"/api/rooms/{room.pk}/members/").json()
    listed = members["results"] if isinstance(members, dict) else members
    assert [m["user"]["avatar"] for m in listed if m["user"]["id"] == str(alice.pk)] == [avatar]
    client.force_login(alice)
    assert avatar["32"] in client.get("/").content.decode()


# --- Time zone --------------------------------------------------------------
def test_time_zone_is_checked_against_the_iana_names(alice):
    saved = client_for(alice).patch(ME, {"time_zone": "Europe/Paris"}, format="json")
    assert saved.status_code == 200 and saved.json()["time_zone"] == "Europe/Paris"
    assert User.objects.get(pk=alice.pk).time_zone == "Europe/Paris"

    body = assert_error(client_for(alice).patch(ME, {"time_zone": "Mars/Olympus_Mons"}, format="json"), 400, "invalid_time_zone", fields=("time_zone",))
    assert "Mars/Olympus_Mons" in body["detail"]
    assert_error(client_for(alice).patch(ME, {"time_zone": "x" * 65}, format="json"), 400, fields=("time_zone",))

    cleared = client_for(alice).patch(ME, {"time_zone": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["time_zone"] == ""


def test_display_name_edits_reach_my_payload(alice):
    response = client_for(alice).patch(ME, {"display_name": "Alice A."}, format="json")
    assert response.status_code == 200 and response.json()["display_name"] == "Alice A."


# --- Password ---------------------------------------------------------------
def test_password_change_refuses_a_wrong_current_password(alice):
    response = client_for(alice).post(PASSWORD_URL, {"current_password": "nope", "new_password": STRONG}, format="json")

    assert_error(response, 400, "wrong_password", fields=("current_password",))
    assert User.objects.get(pk=alice.pk).check_password(PASSWORD)


@pytest.mark.parametrize(
    ("weak", "message"),
    (("short1", "This password is too short"), ("password123", "This password is too common"), ("83749201746583", "This password is entirely numeric")),
)
def test_password_change_names_what_the_validators_refuse(alice, weak, message):
    response = client_for(alice).post(PASSWORD_URL, {"current_password": PASSWORD, "new_password": weak}, format="json")

    body = assert_error(response, 400, "weak_password", fields=("new_password",))
    assert message in body["detail"]
    assert any(m.startswith(message) for m in body["fields"]["new_password"])
    assert User.objects.get(pk=alice.pk).check_password(PASSWORD)


def test_password_change_ends_my_other_sessions_and_keeps_this_one(alice, listener, django_capture_on_commit_callbacks):
    this, other = Client(), Client()
    this.force_login(alice)
    other.force_login(alice)
    _api, tokens = jwt_client("alice")
    listener.subscribe(f"user.{alice.pk}")

    with django_capture_on_commit_callbacks(execute=True):
        response = this.post(PASSWORD_URL, {"current_password": PASSWORD, "new_password": STRONG}, content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json() == {"ended": 2}
    assert this.get(ME).status_code == 200  # this browser stays signed in
    assert_error(other.get(ME), 401)
    assert_error(APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401)
    assert User.objects.get(pk=alice.pk).check_password(STRONG)
    kept = this.session.get("accounts_session_id")
    # (committed_at: the time the metrics measure delivery latency from)
    disconnects = [without_stamp(m) for m in listener.receive_all() if m["type"] == "chat.disconnect"]
    assert disconnects == [{"type": "chat.disconnect", "reason": "session_revoked", "code": 4001, "keep_session": kept}]
    assert list(UserSession.objects.filter(user=alice).values_list("pk", flat=True)) == [UserSession.objects.get(pk=kept).pk]


def test_password_change_from_an_api_client_keeps_its_refresh_token(alice):
    api, tokens = jwt_client("alice")
    _other, other_tokens = jwt_client("alice")

    response = api.post(PASSWORD_URL, {"current_password": PASSWORD, "new_password": STRONG}, format="json")

    assert response.status_code == 200, response.content
    assert APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 200
    assert_error(APIClient().post(REFRESH, {"refresh": other_tokens["refresh"]}, format="json"), 401)


def test_password_changes_are_metered_as_settings(alice, settings):
    settings.CHAT_RATE_LIMITS = {"settings": "1/m"}
    body = {"current_password": "wrong", "new_password": STRONG}
    assert_error(client_for(alice).post(PASSWORD_URL, body, format="json"), 400, "wrong_password")
    assert_rate_limited(client_for(alice).post(PASSWORD_URL, body, format="json"), kind="settings", user=alice)


# --- Sessions ---------------------------------------------------------------
def test_sessions_list_browsers_and_api_clients_and_marks_this_one(alice):
    browser = Client(HTTP_USER_AGENT=FIREFOX)
    assert browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    api, _tokens = jwt_client("alice", HTTP_USER_AGENT="python-requests/2.32")

    listed = browser.get(SESSIONS).json()

    assert [(s["kind"], s["device"], s["current"]) for s in listed] == [
        ("api", "python-requests", False),
        ("browser", "Firefox on Windows", True),
    ]
    assert all(s["ip"] == "127.0.0.1" and s["created_at"] and s["last_seen_at"] for s in listed)
    assert [s["current"] for s in api.get(SESSIONS).json()] == [True, False]


def test_revoking_an_api_session_ends_its_refresh_and_access_tokens(alice, listener, django_capture_on_commit_callbacks):
    browser = Client()
    browser.force_login(alice)
    api, tokens = jwt_client("alice")
    api_session = [s for s in browser.get(SESSIONS).json() if s["kind"] == "api"][0]
    listener.subscribe(f"user.{alice.pk}")

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.delete(f"{SESSIONS}{api_session['id']}/")

    assert response.status_code == 204, response.content
    assert_error(api.get(ME), 401, "session_ended")
    assert_error(APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401)
    assert [without_stamp(m) for m in listener.receive_all() if m["type"] == "chat.disconnect"] == [
        {"type": "chat.disconnect", "reason": "session_revoked", "code": 4001, "sessions": [api_session["id"]]}
    ]
    assert browser.get(ME).status_code == 200


def test_a_session_cannot_be_revoked_by_someone_else_nor_the_current_one(alice, bob):
    api, _tokens = jwt_client("alice")
    mine = api.get(SESSIONS).json()[0]
    bob_api, _ = jwt_client("bob")

    assert_error(bob_api.delete(f"{SESSIONS}{mine['id']}/"), 404, "session_not_found")
    assert_error(api.delete(f"{SESSIONS}{mine['id']}/"), 400, "session_is_current")
    assert api.get(ME).status_code == 200


def test_log_out_everywhere_else_ends_every_other_session(alice, bob):
    browser_one, browser_two = Client(), Client()
    browser_one.force_login(alice)
    browser_two.force_login(alice)
    api, tokens = jwt_client("alice")
    bob_browser = Client()
    bob_browser.force_login(bob)

    response = api.post(LOGOUT_OTHERS)

    assert response.status_code == 200 and response.json() == {"ended": 2}
    assert_error(browser_one.get(ME), 401)
    assert_error(browser_two.get(ME), 401)
    assert api.get(ME).status_code == 200
    assert APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 200
    assert bob_browser.get(ME).status_code == 200
    assert [s["current"] for s in api.get(SESSIONS).json()] == [True]


def test_a_refresh_keeps_the_session_and_notes_it_as_seen(alice):
    _api, tokens = jwt_client("alice")
    session = UserSession.objects.get(user=alice)
    UserSession.objects.filter(pk=session.pk).update(last_seen_at=session.created_at.replace(year=2020))

    refreshed = APIClient(HTTP_USER_AGENT="curl/8.5").post(REFRESH, {"refresh": tokens["refresh"]}, format="json")

    assert refreshed.status_code == 200
    session.refresh_from_db()
    assert session.last_seen_at.year > 2020 and session.user_agent == "curl/8.5"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert client.get(SESSIONS).json()[0]["id"] == str(session.pk)


def test_logging_out_removes_the_session_from_the_list(alice):
    browser = Client()
    browser.force_login(alice)
    api, tokens = jwt_client("alice")

    api.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")

    assert [s["kind"] for s in browser.get(SESSIONS).json()] == ["browser"]
    browser.post("/accounts/logout/")
    assert not UserSession.objects.filter(user=alice).exists()


def test_notification_emails_show_times_in_my_time_zone(alice, bob, no_rate_limits):
    from datetime import UTC, datetime

    from chat import commands
    from chat.models import Notification, NotificationChannel
    from chat.notify import email as notification_email

    room, _created = commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
    message = send(room, alice, "at noon?")
    type(message).objects.filter(pk=message.pk).update(created_at=datetime(2026, 1, 15, 12, 30, tzinfo=UTC))
    rows = list(
        Notification.objects.filter(user=bob, channel=NotificationChannel.EMAIL).select_related("room", "message__sender")
    )
    assert rows

    bob.time_zone = "Asia/Tokyo"
    email = notification_email.compose(user=bob, notifications=rows)

    assert "15 Jan 2026, 21:30 Asia/Tokyo" in email.body
    assert "15 Jan 2026, 21:30 Asia/Tokyo" in email.alternatives[0][0]
    bob.time_zone = ""
    assert "15 Jan 2026, 12:30 UTC" in notification_email.compose(user=bob, notifications=rows).body


def test_a_refresh_token_issued_without_a_session_gets_one(alice):
    from rest_framework_simplejwt.tokens import RefreshToken

    legacy = RefreshToken.for_user(alice)

    refreshed = APIClient().post(REFRESH, {"refresh": str(legacy)}, format="json")

    assert refreshed.status_code == 200, refreshed.content
    sid = RefreshToken(refreshed.json()["refresh"])["sid"]
    assert UserSession.objects.filter(pk=sid, user=alice, kind="api").exists()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert [s["current"] for s in client.get(SESSIONS).json()] == [True]


def test_a_browser_session_is_noted_as_seen_every_few_minutes_only(alice, django_assert_num_queries):
    from accounts import sessions

    browser = Client(HTTP_USER_AGENT=FIREFOX)
    browser.force_login(alice)
    row = UserSession.objects.get(user=alice)
    UserSession.objects.filter(pk=row.pk).update(last_seen_at=row.created_at.replace(year=2020))
    assert browser.get(ME).status_code == 200
    assert UserSession.objects.get(pk=row.pk).last_seen_at.year == 2020  # seen at login, a moment ago

    session = browser.session
    session[sessions.SEEN_DATA_KEY] = 0
    session.save()
    assert browser.get(ME).status_code == 200

    row.refresh_from_db()
    assert row.last_seen_at.year > 2020 and row.user_agent == FIREFOX


def test_sessions_unused_past_their_lifetime_are_no_longer_listed(alice, settings):
    from datetime import timedelta

    from django.utils import timezone

    api, _tokens = jwt_client("alice")
    _other, _ = jwt_client("alice")
    current = [s["id"] for s in api.get(SESSIONS).json() if s["current"]]
    stale = UserSession.objects.exclude(pk__in=current).get()
    UserSession.objects.filter(pk=stale.pk).update(
        last_seen_at=timezone.now() - settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] - timedelta(minutes=1)
    )

    assert [s["current"] for s in api.get(SESSIONS).json()] == [True]
    assert not UserSession.objects.filter(pk=stale.pk).exists()


def without_stamp(message: dict) -> dict:
    """A layer message without the commit time broadcast adds for the latency metric."""
    assert isinstance(message.pop("committed_at", 0.0), float)
    return message
