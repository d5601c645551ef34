"""Uploads: size limit, a type allowlist checked on the content (not the name),
images verified and measured with Pillow, their metadata stripped and their
thumbnails made (chat.previews); a PDF's preview made later by a job."""

import hashlib
import logging
import mimetypes
import os
import re

import filetype
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from chatsite.core import jobs
from chatsite.core.exceptions import Forbidden, Invalid, TooLarge, UnsupportedType

from .. import previews
from ..events import log, wire
from ..models import ATTACHMENT_FILE_TYPES as FILE_TYPES
from ..models import ATTACHMENT_IMAGE_TYPES as IMAGE_TYPES
from ..models import ATTACHMENT_TEXT_TYPE as TEXT_TYPE
from ..models import Attachment, ChatMessage, ChatRoom, PreviewState, Role
from ..policies import require_active_room, require_member
from .common import allocate_seq

logger = logging.getLogger(__name__)

MAX_IMAGE_PIXELS = previews.MAX_IMAGE_PIXELS
SNIFF_BYTES = 8192
PDF_TYPE = "application/pdf"
PDF_PREVIEW_JOB = "attachment.pdf_preview"


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


def _too_large() -> TooLarge:
    return TooLarge(
        f"The image has too many pixels (the limit is {MAX_IMAGE_PIXELS:,}).", code="image_too_large"
    )


def _save_previews(attachment: Attachment, renditions: dict[str, previews.Rendition]) -> None:
    for name, rendition in renditions.items():
        getattr(attachment, f"preview_{name}").save(f"{attachment.pk}-{name}.webp", ContentFile(rendition.data), save=False)
    attachment.preview_sizes = {name: [r.width, r.height] for name, r in renditions.items()}
    attachment.preview_state = PreviewState.READY


def attachment_create(*, uploader, upload: UploadedFile, room: ChatRoom | None = None, keep_original: bool = False) -> Attachment:
    """Store an upload for ``uploader`` to post. Raises TooLarge (413: the
    file's bytes, ``file_too_large``, or an image's pixels, ``image_too_large``),
    UnsupportedType (415), Invalid (a broken image), or Forbidden (guests).

    An image is stored without its metadata (EXIF, GPS, XMP, IPTC, comments),
    turned upright, unless ``keep_original``: then its bytes are kept exactly.
    Its two thumbnails are made now; a PDF's by the ``attachment.pdf_preview``
    job, enqueued in this transaction."""
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
    processed = None
    if content_type in IMAGE_TYPES:
        damaged = Invalid("The image is damaged or not what it claims to be.", code="invalid_image")
        try:
            previews.measure(upload)
            processed = previews.process_image(upload, content_type, keep_original=keep_original)
        except previews.AnimationTooLarge:
            raise TooLarge(
                f"The animation is too large to be cleaned of its metadata (all its frames together: over "
                f"{previews.MAX_ANIMATION_PIXELS:,} pixels). Upload it with “keep original” to share it as it is.",
                code="image_too_large",
            ) from None
        except previews.ImageTooLarge:
            raise _too_large() from None
        except previews.BadImage:
            raise damaged from None
        width, height = processed.width, processed.height
    content = upload if processed is None or processed.original is None else ContentFile(processed.original)
    digest = hashlib.sha256()
    for chunk in content.chunks():
        digest.update(chunk)
    content.seek(0)
    attachment = Attachment(
        uploaded_by=uploader,
        original_name=_clean_name(upload.name, content_type),
        content_type=content_type,
        size=content.size,
        width=width,
        height=height,
        sha256=digest.hexdigest(),
        original_kept=keep_original and processed is not None,
    )
    attachment.file.save(f"{attachment.pk}", content, save=False)
    if processed is not None:
        _save_previews(attachment, processed.previews)
    elif content_type == PDF_TYPE:
        attachment.preview_state = PreviewState.PENDING
    # The pixels were worked on before: the transaction holds nothing meanwhile.
    with transaction.atomic():
        attachment.save(force_insert=True)
        if attachment.preview_state == PreviewState.PENDING:
            # In the same transaction: the job exists exactly when the attachment does.
            jobs.enqueue(kind=PDF_PREVIEW_JOB, payload={"attachment_id": str(attachment.pk)}, owner=uploader)
    return attachment


def _renditions_of(attachment: Attachment) -> dict[str, previews.Rendition] | None:
    """The thumbnails of a stored PDF or image; None (logged) when they cannot be made."""
    try:
        with attachment.file.open("rb") as handle:
            if attachment.content_type == PDF_TYPE:
                return previews.pdf_previews(handle.read())
            # An image stored before previews existed: its stored bytes are left as they are.
            return previews.process_image(handle, attachment.content_type, keep_original=True).previews
    except (ValueError, OSError, previews.BadImage, previews.ImageTooLarge) as exc:
        logger.warning("No preview for attachment %s (%s): %r", attachment.pk, attachment.content_type, exc)
        return None


def attachment_make_previews(*, attachment_id, announce: bool = True) -> Attachment | None:
    """Make the thumbnails of a PDF (its first page: the ``attachment.pdf_preview``
    job, off the request path) or of an image stored before previews existed
    (``manage.py make_attachment_previews``). A file that cannot be rendered
    keeps no preview (state ``failed``, logged); this never raises for it.

    Rendering runs outside any transaction; the result is written with the
    attachment's row locked, then (``announce``) every message that shows the
    attachment is announced again (``message.updated``: its payload now has
    ``previews``). Returns the attachment, or None when it is gone. Running it
    twice is harmless (a ready preview is left as it is)."""
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    wanted = attachment is not None and (attachment.content_type == PDF_TYPE or attachment.content_type in IMAGE_TYPES)
    if not wanted or attachment.preview_state == PreviewState.READY:
        return attachment
    renditions = _renditions_of(attachment)
    with transaction.atomic():
        attachment = Attachment.objects.select_for_update().filter(pk=attachment_id).first()
        if attachment is None or attachment.preview_state == PreviewState.READY:
            return attachment
        if renditions is None:
            attachment.preview_state = PreviewState.FAILED
            attachment.save(update_fields=["preview_state", "updated_at"])
            return attachment
        _save_previews(attachment, renditions)
        attachment.save(update_fields=["preview_state", "preview_small", "preview_large", "preview_sizes", "updated_at"])
        if announce:
            _announce_messages_showing(attachment)
    return attachment


def _announce_messages_showing(attachment: Attachment) -> None:
    """``message.updated`` for each live message carrying the attachment (a
    forward is another message), message rows locked before rooms' like every write."""
    shown = list(
        ChatMessage.objects.select_for_update(of=("self",))
        .filter(attachment=attachment, is_deleted=False)
        .select_related("room", "sender", "reply_to__sender", "forwarded_from__sender")
        .order_by("room_id", "seq")
    )
    for message in shown:
        message.attachment = attachment
        seq = allocate_seq(message.room)
        log.append(room=message.room, seq=seq, kind=wire.MESSAGE_UPDATED, body={"message_id": str(message.pk)}, message=message)
