import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from chat import services
from chatsite.core.exceptions import Forbidden, Invalid, TooLarge, UnsupportedType
from chat.models import Attachment, Role
from chat.tests.factories import group_room


def png_bytes(size=(12, 7)):
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_is_verified_and_measured(alice):
    attachment = services.attachment_create(
        uploader=alice, upload=SimpleUploadedFile("photo.exe", png_bytes(), content_type="application/x-msdownload")
    )
    assert (attachment.content_type, attachment.width, attachment.height) == ("image/png", 12, 7)
    assert attachment.original_name == "photo.png"  # named after what it is, not what it claims
    assert attachment.file.read() == png_bytes()


def test_type_is_checked_on_content_not_name(alice):
    with pytest.raises(UnsupportedType):
        services.attachment_create(uploader=alice, upload=SimpleUploadedFile("a.png", b"\x00\x01\x02binary junk"))
    with pytest.raises(Invalid) as exc:
        services.attachment_create(uploader=alice, upload=SimpleUploadedFile("b.png", png_bytes()[:40]))
    assert exc.value.code == "invalid_image"
    text = services.attachment_create(uploader=alice, upload=SimpleUploadedFile("notes.png", "héllo".encode()))
    assert text.content_type == "text/plain"
    assert Attachment.objects.count() == 1


def test_size_limit(alice, settings):
    settings.CHAT_MAX_ATTACHMENT_BYTES = 10
    with pytest.raises(TooLarge) as exc:
        services.attachment_create(uploader=alice, upload=SimpleUploadedFile("big.txt", b"x" * 11))
    assert exc.value.status == 413 and "10 bytes" in exc.value.detail
    assert not Attachment.objects.exists()


def test_guests_cannot_upload_to_a_room(alice, make_user):
    guest = make_user()
    room = group_room(alice)
    services.room_member_add(room=room, actor=alice, user=guest, role=Role.GUEST)
    with pytest.raises(Forbidden):
        services.attachment_create(uploader=guest, upload=SimpleUploadedFile("a.txt", b"hi"), room=room)
