import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from chat import commands
from chat.models import Attachment, Role
from chat.tests.factories import group_room
from chatsite.core.exceptions import Forbidden, Invalid, TooLarge, UnsupportedType


def png_bytes(size=(12, 7)):
    buffer = io.BytesIO()
    Image.new("RGB", size, "red").save(buffer, format="PNG")
    return buffer.getvalue()


def upload(user, name, content, room=None, **kwargs):
    return commands.attachment_create(
        actor=user, upload=SimpleUploadedFile(name, content, **kwargs), room_id=room.pk if room else None
    )


def test_image_is_verified_and_measured(alice):
    attachment = upload(alice, "photo.exe", png_bytes(), content_type="application/x-msdownload")
    assert (attachment.content_type, attachment.width, attachment.height) == ("image/png", 12, 7)
    assert attachment.original_name == "photo.png"  # named after what it is, not what it claims
    assert attachment.file.read() == png_bytes()


def test_type_is_checked_on_content_not_name(alice):
    with pytest.raises(UnsupportedType):
        upload(alice, "a.png", b"\x00\x01\x02binary junk")
    with pytest.raises(Invalid) as exc:
        upload(alice, "b.png", png_bytes()[:40])
    assert exc.value.code == "invalid_image"
    text = upload(alice, "notes.png", "héllo".encode())
    assert text.content_type == "text/plain"
    assert Attachment.objects.count() == 1


def test_size_limit(alice, settings):
    settings.CHAT_MAX_ATTACHMENT_BYTES = 10
    with pytest.raises(TooLarge) as exc:
        upload(alice, "big.txt", b"x" * 11)
    assert exc.value.status == 413 and "10 bytes" in exc.value.detail
    assert not Attachment.objects.exists()


def test_guests_cannot_upload_to_a_room(alice, make_user):
    guest = make_user()
    room = group_room(alice)
    commands.member_add(actor=alice, room_id=room.pk, user_id=guest.pk, role=Role.GUEST)
    with pytest.raises(Forbidden):
        upload(guest, "a.txt", b"hi", room=room)
