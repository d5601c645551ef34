"""Uploads: size limit, a type allowlist checked on the content (not the name),
images verified and measured with Pillow."""

import hashlib
import mimetypes
import os
import re

import filetype
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from PIL import Image, UnidentifiedImageError

from chatsite.core.exceptions import Forbidden, Invalid, TooLarge, UnsupportedType

from ..models import ATTACHMENT_FILE_TYPES as FILE_TYPES
from ..models import ATTACHMENT_IMAGE_TYPES as IMAGE_TYPES
from ..models import ATTACHMENT_TEXT_TYPE as TEXT_TYPE
from ..models import Attachment, ChatRoom, Role
from ..policies import require_active_room, require_member

MAX_IMAGE_PIXELS = 50_000_000
SNIFF_BYTES = 8192


def _head(upload: UploadedFile) -> bytes:
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    return head


def _sniff(upload: UploadedFile) -> str | None:
    head = _head(upload)
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the sniff boundary is still text.
            if exc.start < len(head) - 4:
                return None
        return TEXT_TYPE
    return None


# What a browser renders as a document or runs as a script: refused whatever the
# name or the declared type says (a text upload is served as text/plain, but a
# sniffing browser, a proxy or a download opened locally may render it).
_MARKUP = re.compile(
    rb"<\s*(?:!doctype|\?xml|html|head|body|script|svg|iframe|frame|object|embed|xml|xsl|math|style|link|meta|"
    rb"img|a\s|form|input|base|template|foreignobject|animate|set\s)",
    re.IGNORECASE,
)


def _is_markup(head: bytes) -> bool:
    """Markup: the text starts with a tag, or carries an element a browser would render or run."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:1] == b"<" and re.match(rb"<[a-zA-Z!?/]", text):
        return True
    return _MARKUP.search(head) is not None


def _clean_name(name: str, content_type: str) -> str:
    base = os.path.basename(name or "").replace("\x00", "").strip() or "file"
    base = "".join(ch for ch in base if ch.isprintable())[:200] or "file"
    stem, ext = os.path.splitext(base)
    expected = mimetypes.guess_extension(content_type) or ""
    if content_type == "image/jpeg" and ext.lower() in (".jpg", ".jpeg"):
        return base
    if expected and ext.lower() != expected:
        return f"{stem}{expected}"
    return base


@transaction.atomic
def attachment_create(*, uploader, upload: UploadedFile, room: ChatRoom | None = None) -> Attachment:
    """Store an upload for ``uploader`` to post. Raises TooLarge (413),
    UnsupportedType (415), Invalid (a broken image), or Forbidden (guests)."""
    limit = settings.CHAT_MAX_ATTACHMENT_BYTES
    if upload.size > limit:
        raise TooLarge(f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes.", code="file_too_large")
    if upload.size == 0:
        raise Invalid("The file is empty.", code="file_empty")
    if room is not None:
        member = require_member(room, uploader)
        require_active_room(room)
        if member.role == Role.GUEST:
            raise Forbidden("Guests cannot post files.", code="guest_cannot_upload")
    content_type = _sniff(upload)
    if content_type == TEXT_TYPE and _is_markup(_head(upload)):
        raise UnsupportedType(
            "Markup (HTML, SVG, XML) cannot be uploaded: a browser would render it as a page. "
            "Put it in a ZIP, or paste it as text in a message.",
            code="markup_not_allowed",
        )
    if content_type not in IMAGE_TYPES | FILE_TYPES | {TEXT_TYPE}:
        raise UnsupportedType(
            "This type of file is not allowed. Allowed: images (PNG, JPEG, GIF, WebP), PDF, ZIP, "
            "gzip, MP3, Ogg, MP4, WebM and plain text.",
            code="unsupported_file_type",
        )
    width = height = None
    if content_type in IMAGE_TYPES:
        try:
            upload.seek(0)
            with Image.open(upload) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise Invalid("The image has too many pixels.", code="image_too_large")
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise Invalid("The image is damaged or not what it claims to be.", code="invalid_image") from None
        finally:
            upload.seek(0)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    attachment = Attachment(
        uploaded_by=uploader,
        original_name=_clean_name(upload.name, content_type),
        content_type=content_type,
        size=upload.size,
        width=width,
        height=height,
        sha256=digest.hexdigest(),
    )
    attachment.file.save(f"{attachment.pk}", upload, save=False)
    attachment.save(force_insert=True)
    return attachment
