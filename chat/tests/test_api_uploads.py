"""Uploads over REST: type checked on the content, images measured, size
limit; downloads only for members of a room the file was posted in."""

import io
import uuid

import pytest
from PIL import Image
from rest_framework.test import APIClient

from accounts.tests.factories import CompanyFactory
from chat.models import Attachment, ChatMessage, Role
from chat.services import members, rooms
from chat.tests.api_helpers import (
    assert_error,
    assert_rate_limited,
    client_for,
    png_bytes,
    upload,
)
from chat.tests.factories import group_room, send

UPLOADS = "/api/attachments/"
ATTACHMENT_KEYS = {"id", "name", "content_type", "size", "width", "height", "url", "previews"}


@pytest.fixture
def api(db):
    """``api(user)``: an APIClient authenticated as ``user``; ``api()``: anonymous."""
    return client_for


@pytest.fixture
def outsider(make_user):
    return make_user(username="olga", display_name="Olga", company=CompanyFactory())


@pytest.fixture
def team(alice, bob):
    return group_room(alice, bob, name="Team")


def post_file(client, name, content, room=None, content_type="application/octet-stream"):
    data = {"file": upload(name, content, content_type)}
    if room is not None:
        data["room"] = str(room.pk)
    return client.post(UPLOADS, data, format="multipart")


def download(client, attachment_id):
    return client.get(f"{UPLOADS}{attachment_id}/")


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


# --- Upload ------------------------------------------------------------------------
def test_upload_a_png_measures_it(api, alice, team):
    content = png_bytes(7, 5)

    response = post_file(api(alice), "pixel.png", content, team, "image/png")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == ATTACHMENT_KEYS
    assert (body["name"], body["content_type"], body["size"], body["width"], body["height"]) == (
        "pixel.png",
        "image/png",
        len(content),
        7,
        5,
    )
    assert body["url"] == f"{UPLOADS}{body['id']}/"
    stored = Attachment.objects.get(pk=body["id"])
    assert (stored.uploaded_by_id, stored.width, stored.height) == (alice.pk, 7, 5)
    with stored.file.open("rb") as handle:
        assert handle.read() == content


def test_upload_a_jpeg_whatever_its_declared_type(api, alice):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "blue").save(buffer, format="JPEG")

    response = post_file(api(alice), "photo.jpg", buffer.getvalue(), content_type="text/plain")

    assert response.status_code == 201, response.content
    assert (response.json()["content_type"], response.json()["width"], response.json()["height"]) == (
        "image/jpeg",
        4,
        3,
    )


def test_upload_a_text_file(api, alice, team):
    response = post_file(api(alice), "notes.txt", "Meeting notes: café at 10\n".encode(), team, "text/plain")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["content_type"], body["width"], body["height"]) == (
        "notes.txt",
        "text/plain",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("name", "declared", "content"),
    [
        ("fake.png", "image/png", b"<html><script>alert(1)</script></html>"),
        ("page.html", "text/html", b"<!DOCTYPE html><p>hi</p>"),
        ("logo.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("data.xml", "application/xml", b'<?xml version="1.0"?><a/>'),
        ("notes.txt", "text/plain", b"\xef\xbb\xbf  \n <body onload=alert(1)>"),
        ("readme.txt", "text/plain", b"Some words first, then <script>alert(1)</script>"),
        ("image.png", "image/png", b"   <svg><script>alert(1)</script></svg>"),
    ],
)
def test_markup_is_refused_whatever_its_name_or_declared_type(api, alice, team, name, declared, content):
    assert_error(post_file(api(alice), name, content, team, declared), 415, "markup_not_allowed")
    assert not Attachment.objects.exists()


def test_text_that_mentions_angle_brackets_is_still_text(api, alice, team):
    response = post_file(api(alice), "maths.txt", b"if a < b and b > c then 2 < 3", team, "text/plain")
    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == "text/plain"


def test_text_named_png_is_stored_as_text_not_as_an_image(api, alice, team):
    client = api(alice)

    response = post_file(client, "fake.png", b"just some words, not a picture", team, "image/png")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["content_type"], body["name"], body["width"]) == ("text/plain", "fake.txt", None)
    as_image = client.post(
        f"/api/rooms/{team.pk}/messages/", {"attachment_id": body["id"], "message_type": "image"}, format="json"
    )
    assert_error(as_image, 400, "invalid_message_type")


@pytest.mark.parametrize(
    "content",
    [
        bytes(range(256)) * 4,  # binary garbage
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200,  # a Windows executable
        b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200,  # a Linux executable
    ],
    ids=["garbage", "exe", "elf"],
)
def test_a_type_outside_the_allowlist_named_png_is_415(api, alice, team, content):
    response = post_file(api(alice), "picture.png", content, team, "image/png")

    assert_error(response, 415, "unsupported_file_type")
    assert not Attachment.objects.exists()


def test_a_fake_image_is_400(api, alice, team):
    content = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\xde\xad\xbe\xef" * 50

    response = post_file(api(alice), "broken.png", content, team, "image/png")

    assert_error(response, 400, "invalid_image")
    assert not Attachment.objects.exists()


def test_a_file_over_the_limit_is_413_naming_it(api, alice, settings):
    settings.CHAT_MAX_ATTACHMENT_BYTES = 100
    assert post_file(api(alice), "ok.txt", b"x" * 100).status_code == 201

    response = post_file(api(alice), "big.txt", b"x" * 101)

    body = assert_error(response, 413, "file_too_large")
    assert "100" in body["detail"]
    assert Attachment.objects.count() == 1


def test_file_names_are_cleaned_and_sent_back_encoded(api, alice):
    client = api(alice)

    traversal = post_file(client, "../../etc/passwd", b"root:x:0:0")
    accented = post_file(client, "naïve résumé.txt", b"hello")

    assert traversal.status_code == 201 and traversal.json()["name"] == "passwd.txt"
    assert accented.json()["name"] == "naïve résumé.txt"
    response = download(client, accented.json()["id"])
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt"


def test_upload_validation(api, alice):
    client = api(alice)
    assert_error(client.post(UPLOADS, {}, format="multipart"), 400, "invalid", fields=("file",))
    assert_error(client.post(UPLOADS, {"file": "not a file"}, format="json"), 400, "invalid", fields=("file",))
    assert_error(post_file(client, "empty.txt", b""), 400, "invalid", fields=("file",))
    bad_room = client.post(UPLOADS, {"file": upload("a.txt", b"hello"), "room": "nope"}, format="multipart")
    assert_error(bad_room, 400, "invalid", fields=("room",))
    assert not Attachment.objects.exists()


def test_guests_cannot_upload_to_a_room(api, alice, carol):
    room = group_room(alice, carol, name="With a guest")
    members.room_member_change_role(room=room, actor=alice, member=room.members.get(user=carol), role=Role.GUEST)
    client = api(carol)

    assert_error(post_file(client, "pixel.png", png_bytes(), room), 403, "guest_cannot_upload")
    # Nor post a file uploaded without naming the room.
    loose = post_file(client, "pixel.png", png_bytes()).json()
    sent = client.post(f"/api/rooms/{room.pk}/messages/", {"attachment_id": loose["id"]}, format="json")
    assert_error(sent, 403, "guest_cannot_upload")
    assert not ChatMessage.objects.filter(attachment__isnull=False).exists()


def test_upload_to_a_room_i_am_not_in_is_404(api, outsider, team):
    assert_error(post_file(api(outsider), "pixel.png", png_bytes(), team), 404, "room_not_found")
    assert not Attachment.objects.exists()


def test_upload_requires_authentication(db):
    assert_error(post_file(APIClient(), "a.txt", b"hello"), 401, "not_authenticated")


def test_uploads_are_rate_limited(api, alice, settings):
    settings.CHAT_RATE_LIMITS = {"upload": "2/m"}
    client = api(alice)
    assert post_file(client, "a.txt", b"one").status_code == 201
    assert post_file(client, "b.txt", b"two").status_code == 201

    refused = post_file(client, "c.txt", b"three")

    assert_rate_limited(refused, kind="upload", user=alice)
    assert Attachment.objects.count() == 2


def test_posting_someone_elses_upload_is_refused(api, alice, bob, team):
    theirs = post_file(api(alice), "pixel.png", png_bytes(), team).json()

    response = api(bob).post(f"/api/rooms/{team.pk}/messages/", {"attachment_id": theirs["id"]}, format="json")

    assert_error(response, 404, "attachment_not_found")


# --- Download --------------------------------------------------------------------------
def test_members_download_an_image_posted_in_their_room(api, alice, bob, team):
    content = png_bytes(7, 5)
    attachment = post_file(api(alice), "pixel.png", content, team).json()
    sent = api(alice).post(
        f"/api/rooms/{team.pk}/messages/", {"attachment_id": attachment["id"], "content": "look"}, format="json"
    )
    assert sent.status_code == 201, sent.content
    assert sent.json()["message_type"] == "image" and sent.json()["attachment"] == attachment

    response = download(api(bob), attachment["id"])

    assert response.status_code == 200
    assert body_of(response) == content
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == 'inline; filename="pixel.png"'


def test_other_files_download_as_attachments(api, alice, bob, team):
    attachment = post_file(api(alice), "notes.txt", b"plain notes", team).json()
    send(team, alice, "", attachment=Attachment.objects.get(pk=attachment["id"]))

    response = download(api(bob), attachment["id"])

    assert response.status_code == 200 and body_of(response) == b"plain notes"
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == 'attachment; filename="notes.txt"'


def test_download_is_404_for_people_outside_the_room(api, alice, bob, carol, outsider, team):
    attachment = post_file(api(alice), "pixel.png", png_bytes(), team).json()
    send(team, alice, "", attachment=Attachment.objects.get(pk=attachment["id"]))
    unknown = download(api(carol), uuid.uuid4())

    assert assert_error(download(api(outsider), attachment["id"]), 404, "attachment_not_found") == assert_error(
        unknown, 404, "attachment_not_found"
    )
    assert_error(download(api(carol), attachment["id"]), 404, "attachment_not_found")
    assert_error(download(APIClient(), attachment["id"]), 401, "not_authenticated")
    members.room_leave(room=team, user=bob)
    assert_error(download(api(bob), attachment["id"]), 404, "attachment_not_found")


def test_an_upload_not_yet_posted_is_only_for_its_uploader(api, alice, bob, team):
    attachment = post_file(api(alice), "draft.png", png_bytes(), team).json()

    assert download(api(alice), attachment["id"]).status_code == 200
    assert_error(download(api(bob), attachment["id"]), 404, "attachment_not_found")


def test_a_deleted_message_takes_its_file_away_from_members(api, alice, bob, team):
    attachment = post_file(api(alice), "pixel.png", png_bytes(), team).json()
    message = send(team, alice, "", attachment=Attachment.objects.get(pk=attachment["id"]))
    assert download(api(bob), attachment["id"]).status_code == 200

    api(alice).delete(f"/api/messages/{message.pk}/")

    assert_error(download(api(bob), attachment["id"]), 404, "attachment_not_found")
    assert api(bob).get(f"/api/messages/{message.pk}/").json()["attachment"] is None


def test_a_forwarded_file_is_visible_in_the_room_it_was_forwarded_to(api, alice, bob, carol, team):
    attachment = post_file(api(alice), "pixel.png", png_bytes(), team).json()
    message = send(team, alice, "", attachment=Attachment.objects.get(pk=attachment["id"]))
    direct, _created = rooms.room_get_or_create_direct(user=bob, other=carol)
    assert_error(download(api(carol), attachment["id"]), 404, "attachment_not_found")

    forwarded = api(bob).post(f"/api/messages/{message.pk}/forward/", {"room": str(direct.pk)}, format="json")

    assert forwarded.status_code == 201, forwarded.content
    assert forwarded.json()["attachment"] == attachment and forwarded.json()["message_type"] == "image"
    assert download(api(carol), attachment["id"]).status_code == 200


def test_a_room_avatar_is_visible_to_members(api, alice, bob, outsider, team):
    avatar = post_file(api(alice), "avatar.png", png_bytes(16, 16), team).json()
    text = post_file(api(alice), "notes.txt", b"not an image").json()
    assert_error(
        api(alice).patch(f"/api/rooms/{team.pk}/", {"avatar_id": text["id"]}, format="json"), 400, "avatar_not_image"
    )

    updated = api(alice).patch(f"/api/rooms/{team.pk}/", {"avatar_id": avatar["id"]}, format="json")

    assert updated.status_code == 200, updated.content
    assert updated.json()["avatar"] == avatar
    assert download(api(bob), avatar["id"]).status_code == 200
    assert_error(download(api(outsider), avatar["id"]), 404, "attachment_not_found")
    # Someone else's upload cannot become the avatar.
    bobs = post_file(api(bob), "b.png", png_bytes(), team).json()
    assert_error(
        api(alice).patch(f"/api/rooms/{team.pk}/", {"avatar_id": bobs["id"]}, format="json"),
        404,
        "attachment_not_found",
    )
