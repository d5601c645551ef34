"""File previews: images stripped of their metadata (checked on the bytes
served), turned upright, two thumbnails; decompression bombs refused; a PDF's
first page rendered by its job; previews served only to the file's people."""

import io
import logging
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageSequence
from rest_framework.test import APIClient

from chat import commands, previews
from chat.events import wire
from chat.models import Attachment, PreviewState, RoomEvent
from chat.tests.api_helpers import assert_error, client_for, png_bytes, upload
from chat.tests.factories import group_room, send
from chatsite.core import jobs
from chatsite.core.models import Job, JobState

UPLOADS = "/api/attachments/"
GPS_IFD = 0x8825
MODEL = 0x0110
ARTIST = 0x013B


@pytest.fixture
def api(db):
    return client_for


@pytest.fixture
def team(alice, bob):
    return group_room(alice, bob, name="Team")


def post_file(client, name, content, room=None, **fields):
    data = {"file": upload(name, content, "application/octet-stream"), **fields}
    if room is not None:
        data["room"] = str(room.pk)
    return client.post(UPLOADS, data, format="multipart")


def body_of(response) -> bytes:
    assert response.status_code == 200, (response.status_code, getattr(response, "content", b"")[:300])
    return b"".join(response.streaming_content)


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def photo_with_gps(width=40, height=20, orientation=6) -> bytes:
    """A JPEG as a phone writes it: camera, author, GPS position, stored sideways."""
    image = Image.new("RGB", (width, height), "white")
    image.paste((200, 30, 30), (0, 0, width // 2, height))  # left half red: shows which way it turned
    exif = Image.Exif()
    exif[MODEL] = "PhoneCam 9000"
    exif[ARTIST] = "Alice Example"
    exif[0x0112] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.0), "E", (2.0, 17.0, 40.0)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95, comment=b"shot at home")
    return buffer.getvalue()


def posted(api, user, room, name, content, **fields):
    """Upload and post in ``room``; returns the attachment payload."""
    response = post_file(api(user), name, content, room, **fields)
    assert response.status_code == 201, response.content
    body = response.json()
    send(room, user, "", attachment=Attachment.objects.get(pk=body["id"]))
    return body


def assert_no_metadata(data: bytes):
    image = opened(data)
    assert not image.getexif(), dict(image.getexif())
    assert not previews.unsafe_info(image), image.info
    for secret in (b"PhoneCam", b"Alice Example", b"shot at home", b"Exif\x00\x00"):
        assert secret not in data


# --- Images ------------------------------------------------------------------------------
def test_exif_gps_is_in_the_upload_and_not_in_what_is_served(api, alice, bob, team):
    content = photo_with_gps()
    before = opened(content).getexif()
    assert before.get_ifd(GPS_IFD) and before[MODEL] == "PhoneCam 9000"  # the test's photo has them

    body = posted(api, alice, team, "IMG_0001.jpg", content)

    original = body_of(api(bob).get(body["url"]))
    assert_no_metadata(original)
    served = opened(original)
    assert (served.format, served.size) == ("JPEG", (20, 40))  # orientation 6 applied: turned upright
    assert served.getpixel((10, 2))[0] > 150 and served.getpixel((10, 37))[0] > 150  # red on top after the turn
    assert served.getpixel((10, 37))[1] > 150
    assert (body["width"], body["height"], body["size"]) == (20, 40, len(original))
    for name in ("small", "large"):
        preview = body["previews"][name]
        data = body_of(api(bob).get(preview["url"]))
        assert_no_metadata(data)
        assert (opened(data).format, opened(data).size) == ("WEBP", (20, 40))  # never upscaled
        assert (preview["width"], preview["height"]) == (20, 40)
    assert body["previews"]["content_type"] == "image/webp"


def test_keep_original_keeps_the_bytes_exactly(api, alice, bob, team):
    content = photo_with_gps()

    body = posted(api, alice, team, "IMG_0002.jpg", content, keep_original="true")

    assert body_of(api(bob).get(body["url"])) == content
    assert (body["width"], body["height"], body["size"]) == (20, 40, len(content))  # as a browser shows it
    assert Attachment.objects.get(pk=body["id"]).original_kept
    assert_no_metadata(body_of(api(bob).get(body["previews"]["small"]["url"])))  # previews are stripped all the same


def test_thumbnails_are_two_sizes_on_the_long_side(api, alice, team):
    body = posted(api, alice, team, "wide.png", png_bytes(2000, 1000))

    assert (body["previews"]["small"]["width"], body["previews"]["small"]["height"]) == (320, 160)
    assert (body["previews"]["large"]["width"], body["previews"]["large"]["height"]) == (1280, 640)
    large = opened(body_of(api(alice).get(body["previews"]["large"]["url"])))
    assert large.size == (1280, 640)
    # Nothing to strip in a plain PNG: stored as uploaded.
    assert body_of(api(alice).get(body["url"])) == png_bytes(2000, 1000)


def test_a_png_with_alpha_and_text_keeps_its_alpha_and_loses_its_text(api, alice, bob, team):
    from PIL import PngImagePlugin

    image = Image.new("RGBA", (30, 30), (0, 0, 255, 0))
    image.paste((0, 0, 255, 255), (0, 0, 15, 30))
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Alice Example")
    text.add_text("Comment", "shot at home")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=text)

    body = posted(api, alice, team, "logo.png", buffer.getvalue())

    original = body_of(api(bob).get(body["url"]))
    assert_no_metadata(original)
    assert opened(original).mode == "RGBA" and opened(original).getpixel((25, 5))[3] == 0
    small = opened(body_of(api(bob).get(body["previews"]["small"]["url"])))
    assert small.mode == "RGBA" and small.getpixel((25, 5))[3] == 0 and small.getpixel((5, 5))[3] == 255


def gif_frames(colors=("red", "green", "blue"), comment=None) -> bytes:
    frames = [Image.new("RGB", (24, 16), color) for color in colors]
    buffer = io.BytesIO()
    params = {"comment": comment} if comment else {}
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=120, loop=0, **params)
    return buffer.getvalue()


def test_an_animated_gif_keeps_its_frames_loses_its_comment_and_has_still_thumbnails(api, alice, bob, team):
    content = gif_frames(comment=b"shot at home by Alice Example")
    assert opened(content).info.get("comment")

    body = posted(api, alice, team, "dance.gif", content)

    original = body_of(api(bob).get(body["url"]))
    assert_no_metadata(original)
    served = opened(original)
    frames = [frame.convert("RGB").getpixel((5, 5)) for frame in ImageSequence.Iterator(served)]
    assert len(frames) == 3 and frames[0][0] > 200 and frames[1][1] > 100 and frames[2][2] > 200
    assert served.info.get("duration") == 120
    small = opened(body_of(api(bob).get(body["previews"]["small"]["url"])))
    assert getattr(small, "n_frames", 1) == 1 and small.convert("RGB").getpixel((5, 5))[0] > 200  # the first frame


def test_an_animated_gif_without_metadata_is_stored_as_uploaded(api, alice, team):
    content = gif_frames()
    body = posted(api, alice, team, "plain.gif", content)
    assert body_of(api(alice).get(body["url"])) == content


def test_an_animated_webp_keeps_its_frames_and_loses_its_exif(api, alice, team):
    exif = Image.Exif()
    exif[MODEL] = "PhoneCam 9000"
    frames = [Image.new("RGB", (20, 20), color) for color in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=100, exif=exif.tobytes())

    body = posted(api, alice, team, "anim.webp", buffer.getvalue())

    original = body_of(api(alice).get(body["url"]))
    assert_no_metadata(original)
    assert opened(original).n_frames == 2


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` × ``height`` pixels in a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height"), [(30000, 30000), (8000, 8000), (50_001, 1000)])
def test_a_decompression_bomb_is_refused_with_413_not_a_crash(api, alice, team, width, height):
    bomb = png_header(width, height)
    assert len(bomb) < 200

    response = post_file(api(alice), "bomb.png", bomb, team)

    body = assert_error(response, 413, "image_too_large")
    assert "50,000,000" in body["detail"]
    assert not Attachment.objects.exists()


def test_an_animation_too_large_to_strip_is_refused_unless_kept_as_uploaded(api, alice, team, monkeypatch):
    monkeypatch.setattr(previews, "MAX_ANIMATION_PIXELS", 24 * 16 * 2)  # fewer than this GIF's 3 frames
    with_comment = gif_frames(comment=b"by Alice Example")

    refused = post_file(api(alice), "long.gif", with_comment, team)
    plain = post_file(api(alice), "plain.gif", gif_frames(), team)  # nothing to strip: nothing to decode
    kept = post_file(api(alice), "kept.gif", with_comment, team, keep_original="true")

    body = assert_error(refused, 413, "image_too_large")
    assert "keep original" in body["detail"]
    assert (plain.status_code, kept.status_code) == (201, 201)


def test_pillow_limit_is_set_explicitly():
    assert Image.MAX_IMAGE_PIXELS == previews.MAX_IMAGE_PIXELS == 50_000_000


# --- Serving -----------------------------------------------------------------------------
def test_previews_are_served_only_to_the_files_people_with_long_cache(api, alice, bob, carol, team):
    body = posted(api, alice, team, "pixel.png", png_bytes(12, 8))
    url = body["previews"]["small"]["url"]
    assert url == f"{UPLOADS}{body['id']}/preview/small/"

    response = api(bob).get(url)

    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert_error(api(carol).get(url), 404, "attachment_not_found")
    assert_error(api(carol).get(body["previews"]["large"]["url"]), 404, "attachment_not_found")
    assert_error(APIClient().get(url), 401, "not_authenticated")
    assert api(alice).get(f"{UPLOADS}{body['id']}/preview/huge/").status_code == 404


def test_a_file_without_previews_answers_404(api, alice, team):
    body = posted(api, alice, team, "notes.txt", b"plain words")
    assert body["previews"] is None
    assert not Job.objects.exists()  # only PDFs have a job
    assert_error(api(alice).get(f"{UPLOADS}{body['id']}/preview/small/"), 404, "preview_not_found")


def test_the_message_payload_carries_the_previews(api, alice, bob, team):
    body = posted(api, alice, team, "pixel.png", png_bytes(12, 8))
    history = api(bob).get(f"/api/rooms/{team.pk}/messages/").json()
    messages = history["results"] if isinstance(history, dict) else history
    assert [m["attachment"] for m in messages if m["attachment"]] == [body]


# --- PDF ---------------------------------------------------------------------------------
def pdf_bytes(size=(300, 200)) -> bytes:
    image = Image.new("RGB", size, "white")
    image.paste((0, 0, 200), (0, 0, size[0], size[1] // 2))
    buffer = io.BytesIO()
    image.save(buffer, "PDF", resolution=72)
    return buffer.getvalue()


def test_a_pdf_gets_its_first_page_as_previews_later_and_its_message_is_updated(api, alice, bob, team):
    body = posted(api, alice, team, "report.pdf", pdf_bytes())
    assert (body["content_type"], body["previews"]) == ("application/pdf", None)
    assert Attachment.objects.get(pk=body["id"]).preview_state == PreviewState.PENDING
    job = Job.objects.get(kind="attachment.pdf_preview")
    assert (job.payload, job.owner_id, job.state) == ({"attachment_id": body["id"]}, alice.pk, JobState.PENDING)
    events_before = RoomEvent.objects.filter(room=team, kind=wire.MESSAGE_UPDATED).count()

    assert jobs.run_pending() == 1  # what the worker process does

    job.refresh_from_db()
    assert (job.state, job.result) == (JobState.DONE, {"preview_state": "ready"})
    attachment = Attachment.objects.get(pk=body["id"])
    assert attachment.preview_state == PreviewState.READY
    event = RoomEvent.objects.filter(room=team, kind=wire.MESSAGE_UPDATED).order_by("seq").last()
    assert RoomEvent.objects.filter(room=team, kind=wire.MESSAGE_UPDATED).count() == events_before + 1
    assert event.message.attachment_id == attachment.pk
    history = api(bob).get(f"/api/rooms/{team.pk}/messages/").json()
    messages = history["results"] if isinstance(history, dict) else history
    previews_now = [m["attachment"]["previews"] for m in messages if m["attachment"]][0]
    assert previews_now["large"]["width"] == 1280 and abs(previews_now["large"]["height"] - 853) <= 1  # 300×200 pt
    assert previews_now["small"]["width"] == 320 and abs(previews_now["small"]["height"] - 213) <= 1
    page = opened(body_of(api(bob).get(previews_now["small"]["url"]))).convert("RGB")
    assert page.getpixel((160, 40))[2] > 150 and page.getpixel((160, 40))[0] < 60  # the blue top half
    assert page.getpixel((160, 180)) > (200, 200, 200)  # the white bottom half
    # Run again (a job retried): nothing changes, nothing is announced.
    assert commands.attachment_make_previews(attachment_id=body["id"]).preview_state == PreviewState.READY
    assert RoomEvent.objects.filter(room=team, kind=wire.MESSAGE_UPDATED).count() == events_before + 1


def test_a_corrupt_pdf_uploads_without_a_preview_and_the_failure_is_logged(api, alice, bob, team, caplog):
    body = posted(api, alice, team, "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage, no xref\n")
    assert body["content_type"] == "application/pdf"

    with caplog.at_level(logging.WARNING, logger="chat.services.attachments"):
        assert jobs.run_pending() == 1

    assert Job.objects.get().state == JobState.DONE  # not retried: a PDF that cannot render never will
    attachment = Attachment.objects.get(pk=body["id"])
    assert attachment.preview_state == PreviewState.FAILED and not attachment.preview_small
    assert any("No preview for attachment" in record.getMessage() and body["id"] in record.getMessage() for record in caplog.records)
    assert not RoomEvent.objects.filter(room=team, kind=wire.MESSAGE_UPDATED).exists()
    assert body_of(api(bob).get(body["url"])).startswith(b"%PDF")
    assert_error(api(bob).get(f"{UPLOADS}{body['id']}/preview/small/"), 404, "preview_not_found")


def test_older_images_and_pdfs_get_previews_from_the_backfill_their_files_untouched(api, alice, bob, team):
    from django.core.management import call_command

    photo = posted(api, alice, team, "old.jpg", photo_with_gps(), keep_original="true")
    pdf = posted(api, alice, team, "old.pdf", pdf_bytes())
    text = posted(api, alice, team, "old.txt", b"words")
    broken = posted(api, alice, team, "broken.png", png_bytes(8, 8))
    # As they were before previews existed.
    Attachment.objects.update(preview_state=PreviewState.NONE, preview_small="", preview_large="", preview_sizes={})
    Path(Attachment.objects.get(pk=broken["id"]).file.path).write_bytes(b"\x89PNG\r\n\x1a\n broken since")
    events_before = RoomEvent.objects.count()
    out = io.StringIO()

    call_command("make_attachment_previews", "--batch", "2", stdout=out)

    assert out.getvalue().strip() == "previews made: 2, could not be made: 1"
    states = dict(Attachment.objects.values_list("original_name", "preview_state"))
    assert states == {"old.jpg": "ready", "old.pdf": "ready", "old.txt": "", "broken.png": "failed"}
    assert body_of(api(bob).get(photo["url"])) == photo_with_gps()  # the kept file is not touched
    small = api(bob).get(f"/api/messages/{Attachment.objects.get(pk=photo['id']).messages.get().pk}/").json()
    assert small["attachment"]["previews"]["small"]["width"] == 20  # upright
    assert RoomEvent.objects.count() == events_before  # no event: clients see them when they load messages
    assert text and pdf
    call_command("make_attachment_previews", stdout=out)  # nothing left
    assert out.getvalue().strip().endswith("previews made: 0, could not be made: 0")
