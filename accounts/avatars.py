"""Avatars: an uploaded picture checked to be an image with Pillow, turned
upright (EXIF orientation), cropped to a centred square and stored as WebP in
a few sizes, with no metadata (no EXIF, GPS, ICC or XMP is copied).

Files live in the default storage at ``avatars/<user id>/<key>-<size>.webp``;
the key is new with each upload, so an avatar URL always shows the same
picture and may be cached for good. They are served only to people who may
see the person (chat/api/users.py: themselves, their company, anyone they
share a room with).
"""

import io
import secrets

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps, UnidentifiedImageError

from chatsite.core.exceptions import Invalid, TooLarge, UnsupportedType

SIZES = (32, 64, 128)
# Decoded size refused before decoding (a small file can decode to gigabytes).
MAX_PIXELS = 40_000_000
FORMATS = ("PNG", "JPEG", "GIF", "WEBP")


def path(user_id, key: str, size: int) -> str:
    return f"avatars/{user_id}/{key}-{size}.webp"


def _square(image: Image.Image, size: int) -> Image.Image:
    return ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def render_sizes(upload) -> dict[int, bytes]:
    """The upload as WebP squares, {size: bytes}. Raises TooLarge (413: the
    file or its pixels), UnsupportedType (415: not a PNG, JPEG, GIF or WebP
    image) or Invalid (400: empty or damaged)."""
    limit = settings.CHAT_MAX_ATTACHMENT_BYTES
    if upload.size > limit:
        raise TooLarge(f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes.", code="file_too_large")
    if upload.size == 0:
        raise Invalid("The file is empty.", code="file_empty")
    upload.seek(0)
    try:
        image = Image.open(upload, formats=FORMATS)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UnsupportedType("This is not an image: upload a PNG, JPEG, GIF or WebP picture.", code="not_an_image") from None
    except Image.DecompressionBombError:
        raise TooLarge(f"The image has too many pixels (at most {MAX_PIXELS:,}).", code="image_too_large") from None
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS or width <= 0 or height <= 0:
            raise TooLarge(
                f"The image is {width:,} × {height:,} pixels; at most {MAX_PIXELS:,} pixels in all.", code="image_too_large"
            )
        try:
            image.seek(0)  # an animation: its first frame
            if image.format == "JPEG":
                # Decode at the smallest scale (1/2 … 1/8) still at least twice the largest size:
                # a 12-megapixel photo in a tenth of the time.
                image.draft("RGB", (2 * max(SIZES), 2 * max(SIZES)))
            image.load()
            upright = ImageOps.exif_transpose(image)
        except Image.DecompressionBombError:
            raise TooLarge(f"The image has too many pixels (at most {MAX_PIXELS:,}).", code="image_too_large") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise Invalid("The image is damaged: it cannot be read.", code="invalid_image") from None
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
    clean = upright.convert("RGBA" if has_alpha else "RGB")
    side = min(clean.size)
    clean = _square(clean, side) if clean.size[0] != clean.size[1] else clean
    rendered = {}
    for size in SIZES:
        square = clean.resize((size, size), Image.Resampling.LANCZOS) if side != size else clean.copy()
        square.info = {}  # nothing of the original's metadata
        out = io.BytesIO()
        square.save(out, "WEBP", quality=85, method=4)
        rendered[size] = out.getvalue()
    return rendered


def store(user_id, rendered: dict[int, bytes]) -> str:
    """Write the sizes under a new key; returns the key."""
    key = secrets.token_hex(8)
    for size, data in rendered.items():
        default_storage.save(path(user_id, key, size), ContentFile(data))
    return key


def delete(user_id, key: str) -> None:
    if not key:
        return
    for size in SIZES:
        try:
            default_storage.delete(path(user_id, key, size))
        except OSError:
            pass


def open_file(user_id, key: str, size: int):
    return default_storage.open(path(user_id, key, size), "rb")
