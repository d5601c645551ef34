"""Previews and metadata stripping of uploads (pure: bytes in, bytes out).

- ``process_image``: the EXIF orientation applied, every piece of metadata
  (EXIF with its GPS position and camera, XMP, IPTC, comments, PNG text
  chunks) left out of the stored original — unless the uploader kept it — and
  two WebP thumbnails (``SIZES``, never upscaled; animated images: the first
  frame). An image over ``MAX_IMAGE_PIXELS`` is refused before it is decoded.
- ``pdf_previews``: the first page of a PDF as the same two thumbnails
  (pypdfium2), made by a job off the request path.

docs/data.md ("File previews") says what is kept and why.
"""

import io
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageOps, ImageSequence

# Refused before decoding: a few kilobytes can claim billions of pixels (a
# "decompression bomb"). Pillow's own limit is set to the same number, so an
# image opened anywhere in the process (thumbnails, PDF pages) obeys it too.
MAX_IMAGE_PIXELS = 50_000_000
# An animation re-encoded to strip its metadata decodes every frame.
MAX_ANIMATION_PIXELS = 4 * MAX_IMAGE_PIXELS
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

# The long side of each thumbnail, in pixels.
SIZES = {"small": 320, "large": 1280}
PREVIEW_TYPE = "image/webp"
PREVIEW_QUALITY = 80
ORIENTATION = 0x0112

# What a stored image may still carry: how to show it, nothing about who,
# where or with what it was made. The ICC colour profile stays (colours would
# shift without it; it describes a screen or a camera model's colour space, not
# a person). Anything else in Pillow's ``info`` means re-encoding.
SAFE_INFO = frozenset({
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "adobe", "adobe_transform",
    "progressive", "progression", "icc_profile", "transparency", "gamma", "srgb", "chromaticity",
    "aspect", "interlace", "duration", "loop", "background", "version", "disposal", "blend", "bbox",
    "default_image",
})
# GIF application extensions Pillow reports in ``info["extension"]``: only the looping ones are safe.
SAFE_GIF_EXTENSIONS = frozenset({b"NETSCAPE2.0", b"ANIMEXTS1.0"})
# The JPEG segments a stripped JPEG may keep: APP0 (JFIF), APP2 (ICC), APP14 (Adobe colour transform).
SAFE_JPEG_SEGMENTS = frozenset({"APP0", "APP2", "APP14"})
SAVE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}


class ImageTooLarge(Exception):
    """More pixels than MAX_IMAGE_PIXELS."""


class AnimationTooLarge(ImageTooLarge):
    """An animation with metadata whose frames together exceed MAX_ANIMATION_PIXELS:
    too costly to re-encode (kept as uploaded, it would be accepted)."""


class BadImage(Exception):
    """Not an image Pillow can read, or damaged."""


@dataclass
class Rendition:
    data: bytes
    content_type: str
    width: int
    height: int


@dataclass
class ProcessedImage:
    """``original``: the bytes to store, or None to store the upload as it came
    (kept by the uploader, or nothing in it to strip)."""

    width: int
    height: int
    original: bytes | None
    previews: dict[str, Rendition] = field(default_factory=dict)


def _open(fileobj) -> Image.Image:
    fileobj.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(fileobj)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLarge from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise ImageTooLarge
    return image


def measure(fileobj) -> tuple[int, int]:
    """The image's stored size; raises ImageTooLarge before decoding, BadImage when damaged."""
    try:
        with _open(fileobj) as image:
            size = image.size
            image.verify()
        return size
    except ImageTooLarge:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImage from exc
    finally:
        fileobj.seek(0)


def _frames(image: Image.Image) -> int:
    return getattr(image, "n_frames", 1)


def unsafe_info(image: Image.Image) -> set[str]:
    """The keys of Pillow's ``info`` that are more than how to show the pixels."""
    keys = set(image.info) - SAFE_INFO - {"extension"}
    extension = image.info.get("extension")
    if extension is not None and not (isinstance(extension, tuple) and extension and extension[0] in SAFE_GIF_EXTENSIONS):
        keys.add("extension")
    return keys


def has_metadata(image: Image.Image) -> bool:
    """Anything beyond how to show the pixels: EXIF (GPS, camera, author), XMP,
    IPTC, comments, PNG text."""
    if unsafe_info(image):
        return True
    if image.format == "JPEG":
        markers = {marker for marker, _data in getattr(image, "applist", [])}
        if markers - SAFE_JPEG_SEGMENTS:
            return True
    return False


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ORIENTATION, 1) or 1)
    except Exception:  # a damaged EXIF block: shown as stored
        return 1


def _clean_info(image: Image.Image, source: Image.Image) -> Image.Image:
    keep = {"icc_profile", "transparency", "duration", "loop", "background"}
    image.info = {key: value for key, value in source.info.items() if key in keep}
    return image


def _preview_mode(image: Image.Image) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    wanted = "RGBA" if has_alpha else "RGB"
    return image if image.mode == wanted else image.convert(wanted)


def thumbnails(image: Image.Image) -> dict[str, Rendition]:
    """The two WebP thumbnails of an (upright) image, no metadata in them: the
    large one from the image, the small one from the large (as sharp, much faster)."""
    source = _preview_mode(image)
    out = {}
    for name, long_side in sorted(SIZES.items(), key=lambda item: -item[1]):
        thumb = source.copy()
        thumb.thumbnail((long_side, long_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        thumb.info = {}
        buffer = io.BytesIO()
        thumb.save(buffer, "WEBP", quality=PREVIEW_QUALITY, method=4)
        out[name] = Rendition(buffer.getvalue(), PREVIEW_TYPE, thumb.width, thumb.height)
        source = thumb
    return {name: out[name] for name in SIZES}


def _strip_still(image: Image.Image, upright: Image.Image, content_type: str, rotated: bool) -> bytes:
    buffer = io.BytesIO()
    clean = _clean_info(upright if rotated else image, image)
    params = {"icc_profile": clean.info.get("icc_profile")} if clean.info.get("icc_profile") else {}
    if content_type == "image/jpeg":
        if not rotated and clean.mode in ("RGB", "L", "CMYK"):
            # The same quantization and subsampling: no visible loss from stripping.
            clean.save(buffer, "JPEG", quality="keep", **params)
        else:
            clean = clean if clean.mode in ("RGB", "L", "CMYK") else clean.convert("RGB")
            clean.save(buffer, "JPEG", quality=92, **params)
    elif content_type == "image/png":
        clean.save(buffer, "PNG", optimize=False, **params)
    elif content_type == "image/webp":
        clean.save(buffer, "WEBP", quality=90, **params)
    else:
        clean.save(buffer, "GIF")
    return buffer.getvalue()


def _strip_animation(image: Image.Image, content_type: str) -> bytes:
    """Every frame kept, with its duration; the container's metadata left out."""
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        durations.append(frame.info.get("duration", image.info.get("duration", 100)))
        copy = frame.convert("RGBA")
        copy.info = {}
        frames.append(copy)
    buffer = io.BytesIO()
    params = {"save_all": True, "append_images": frames[1:], "duration": durations, "loop": image.info.get("loop", 0)}
    if content_type == "image/gif":
        frames[0].save(buffer, "GIF", disposal=2, **params)
    else:
        frames[0].save(buffer, "WEBP", quality=90, **params)
    return buffer.getvalue()


def process_image(fileobj, content_type: str, *, keep_original: bool = False) -> ProcessedImage:
    """Strip and thumbnail an image already verified (``measure``). The width and
    height returned are those shown (after the EXIF orientation: a kept original
    is turned by the browser from its EXIF)."""
    try:
        with _open(fileobj) as image:
            animated = _frames(image) > 1
            orientation = _orientation(image)
            rotated = orientation != 1 and not animated
            image.seek(0)
            image.load()
            upright = ImageOps.exif_transpose(image) if rotated else image
            previews = thumbnails(upright)
            if keep_original or not (has_metadata(image) or rotated):
                original = None
            elif animated:
                if _frames(image) * image.width * image.height > MAX_ANIMATION_PIXELS:
                    raise AnimationTooLarge
                original = _strip_animation(image, content_type)
            else:
                original = _strip_still(image, upright, content_type, rotated)
            return ProcessedImage(width=upright.width, height=upright.height, original=original, previews=previews)
    except ImageTooLarge:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImage from exc
    finally:
        fileobj.seek(0)


def pdf_previews(data: bytes) -> dict[str, Rendition]:
    """The first page of a PDF, rendered to fit the large size, as both
    thumbnails. Raises ValueError when the PDF cannot be rendered."""
    import pypdfium2 as pdfium  # imported here: only the job's process needs it

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ValueError(f"unreadable PDF: {exc}") from exc
    try:
        if len(document) == 0:
            raise ValueError("the PDF has no page")
        page = document[0]
        width, height = page.get_size()  # points
        if width <= 0 or height <= 0:
            raise ValueError("the first page has no size")
        scale = SIZES["large"] / max(width, height)
        bitmap = page.render(scale=scale)
        image = bitmap.to_pil()
        return thumbnails(image)
    except pdfium.PdfiumError as exc:
        raise ValueError(f"the first page cannot be rendered: {exc}") from exc
    finally:
        document.close()
