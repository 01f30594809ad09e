"""Opening untrusted image bytes safely.

The bytes alone decide the format, and only allow-listed decoders are tried. The pixel count
is checked from the header before anything is decoded, and every decoder failure becomes a
ToolFailure: UNSUPPORTED_FORMAT for data that is not an accepted image, INVALID_INPUT for an
accepted image that is damaged, RESOURCE_TOO_LARGE for too many pixels.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import pillow_heif
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from ..errors import ErrorCode, ToolFailure
from .refusals import FORMAT_NAMES, damaged, too_many_pixels

logger = logging.getLogger(__name__)

# Only the decoders of accepted formats are loaded: Image.init() would load some forty, and
# cost every worker process a fifth of a second at start. (AVIF needs Pillow >= 11.2.)
for _plugin in ("Avif", "Bmp", "Gif", "Jpeg", "Png", "Tiff", "WebP"):
    with contextlib.suppress(ImportError):
        importlib.import_module(f"PIL.{_plugin}ImagePlugin")
pillow_heif.register_heif_opener()

# AVIF needs a Pillow built with libavif; never name a decoder Pillow does not have.
ACCEPTED_FORMATS = tuple(name for name in FORMAT_NAMES if name in Image.OPEN)
ACCEPTED_NAMES = ", ".join(FORMAT_NAMES[name] for name in ACCEPTED_FORMATS)

# What Pillow's decoders raise on hostile or damaged data: Image.open itself treats
# SyntaxError, IndexError, TypeError and struct.error as "not this format"; zlib.error comes
# from PNG text chunks, RuntimeError from libheif. Anything else is a bug and surfaces as one.
_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
    RuntimeError,
)
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)

_ISO_IMAGE_BRANDS = {
    **dict.fromkeys((b"avif", b"avis"), "AVIF"),
    **dict.fromkeys(
        (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"), "HEIF"
    ),
}


def open_image(raw: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """Read the header of `raw` (nothing is decoded yet); the caller closes the image."""
    if not raw:
        raise ToolFailure(
            ErrorCode.UNSUPPORTED_FORMAT,
            "the image data is empty (0 bytes); send the image's content, not an empty file",
        )
    try:
        image = Image.open(io.BytesIO(raw), formats=ACCEPTED_FORMATS)
    except _BOMB_ERRORS as error:
        raise too_many_pixels("the image header claims more pixels than", max_pixels) from error
    except UnidentifiedImageError as error:
        raise _unrecognised(raw) from error
    except _DECODER_ERRORS as error:
        raise damaged(_claimed_format(raw)) from error
    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise damaged(image.format)
    if width * height > max_pixels:
        image.close()
        raise too_many_pixels(f"the image is {width}x{height} pixels, more than", max_pixels)
    return image


@contextmanager
def decoding(format_name: str | None) -> Iterator[None]:
    """Turn decoder failures inside the block into ToolFailures about this image."""
    try:
        yield
    except _BOMB_ERRORS as error:
        raise ToolFailure(
            ErrorCode.RESOURCE_TOO_LARGE,
            "the image expands to more pixels than the decoder allows; send a smaller image",
        ) from error
    except _DECODER_ERRORS as error:
        logger.debug("decoding a %s image failed: %r", format_name, error)
        raise damaged(format_name) from error


def container_format(image: ImageFile.ImageFile) -> str:
    """The format's name; a JPEG carrying extra pictures (camera previews, depth maps) is
    still a JPEG (Pillow says MPO): every JPEG decoder shows its primary picture."""
    return "JPEG" if image.format == "MPO" else str(image.format)


def frame_count(image: ImageFile.ImageFile) -> int:
    """Frames in an animation (GIF, APNG, animated WebP...), 1 for a still image."""
    if image.format == "MPO":
        return 1
    with decoding(image.format):
        return int(getattr(image, "n_frames", 1))


def exif_orientation(image: ImageFile.ImageFile) -> int:
    """The EXIF orientation (1-8) from the header; 1 when absent or unreadable."""
    try:
        # The base method reads only what the header gave; PNG's override would decode the
        # whole image to look for an eXIf chunk after the pixel data.
        value = Image.Image.getexif(image).get(ExifTags.Base.Orientation, 1)
    except _DECODER_ERRORS as error:
        logger.debug("ignoring unreadable EXIF: %r", error)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def check_integrity(raw: bytes, format_name: str) -> None:
    """Read a to-be-forwarded image far enough to know it is whole, as cheaply as it allows."""
    with decoding(format_name), Image.open(io.BytesIO(raw), formats=(format_name,)) as image:
        if format_name == "PNG":
            image.verify()  # every chunk's CRC up to IEND, without inflating the pixels
            return
        if format_name == "JPEG":
            # Decoding at 1/8 scale still reads every entropy-coded segment, skipping most IDCT.
            image.draft(None, (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()


def _claimed_format(raw: bytes) -> str | None:
    for signature, name in _SIGNATURES:
        if raw.startswith(signature):
            return name
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    if raw[4:8] == b"ftyp":  # ISO media: the brand tells images from video
        return _ISO_IMAGE_BRANDS.get(raw[8:12])
    return None


def _unrecognised(raw: bytes) -> ToolFailure:
    claimed = _claimed_format(raw)
    if claimed in ACCEPTED_FORMATS:
        return damaged(claimed)
    head = raw[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf"):
        advice = "it is a PDF document: render the page to PNG first"
    elif b"<svg" in head:
        advice = "it is an SVG drawing: render it to PNG first"
    elif head.startswith((b"<!doctype html", b"<html")):
        advice = "it is an HTML page: use the address of the image itself, not of the page"
    else:
        advice = "convert it to PNG or JPEG"
    return ToolFailure(
        ErrorCode.UNSUPPORTED_FORMAT,
        f"the data is not an image in an accepted format ({ACCEPTED_NAMES}); {advice}",
    )
