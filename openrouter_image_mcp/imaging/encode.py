"""Encoding a prepared picture in the format its content calls for, within the byte limit.

Chosen by measurement (`python -m bench.encodings`; the README's performance section has the
table): for each class and model size, the CPU time of the encode plus the bytes at
100 Mbit/s (1 MB = 80 ms), among the encodings that keep screenshot text as legible (words
tesseract reads back) as a lossless copy of the same pixels, and photos above 38 dB PSNR.
- Opaque graphics (screenshots, text, charts) go out as JPEG 4:4:4 at quality 95: on a
  2560x1600 screenshot at 2048 px, 28 ms and 1.19 MB against 124-138 ms and 0.6-0.8 MB for
  lossless WebP (PNG at zlib-ng level 1: 136 ms, 1.06 MB), with the same words read. Full
  chroma keeps coloured text and thin lines sharp. At the smaller sizes OpenAI and Claude
  models get, text is 6-7 px high and lower qualities start losing words (85 at 1568 px).
- Graphics with transparency stay lossless WebP, so alpha survives; method 1 is 2-10x
  smaller than method 0 on UI at about the same speed but falls off a cliff on many-colour
  content (a 2000x1500 gradient: 377 ms against 39 ms), so smooth graphics get method 0.
- Photographs go out as JPEG 4:2:0 at IMAGE_MCP_JPEG_QUALITY (42-45 dB at 85), transparency
  composited onto white.
Over IMAGE_MCP_MAX_IMAGE_BYTES, lossless gives way to JPEG, and JPEG quality steps down,
before giving up.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image

from ..errors import ErrorCode, ToolFailure
from .classify import Content
from .limits import PreparationSettings
from .modes import flattened_on_white

logger = logging.getLogger(__name__)

_LOSSLESS_WEBP_OPTIONS = {
    Content.GRAPHICS: {"lossless": True, "quality": 0, "method": 1},
    Content.SMOOTH_GRAPHICS: {"lossless": True, "quality": 0, "method": 0},
}
_GRAPHICS_JPEG_QUALITY = 95
_FULL_CHROMA, _HALF_CHROMA = 0, 2  # Pillow's JPEG subsampling: 4:4:4 and 4:2:0
_FALLBACK_QUALITIES = (70, 50, 30)


@dataclass(frozen=True, slots=True)
class Encoded:
    format: str
    data: bytes


def encode_image(image: Image.Image, content: Content, settings: PreparationSettings) -> Encoded:
    """`image` (L, LA, RGB or RGBA), whose `content` the caller classified, as WEBP or JPEG
    bytes of at most max_image_bytes."""
    if content is Content.PHOTO:
        return _jpeg_within_limit(image, settings.jpeg_quality, _HALF_CHROMA, settings)
    if image.mode in ("LA", "RGBA"):
        encoded = _encode(image, "WEBP", _LOSSLESS_WEBP_OPTIONS[content])
        if len(encoded.data) <= settings.max_image_bytes:
            return encoded
        logger.debug("lossless is %d bytes, over the limit: trying JPEG", len(encoded.data))
    return _jpeg_within_limit(image, _GRAPHICS_JPEG_QUALITY, _FULL_CHROMA, settings)


def _jpeg_within_limit(
    image: Image.Image, preferred_quality: int, subsampling: int, settings: PreparationSettings
) -> Encoded:
    opaque = flattened_on_white(image)
    try:
        for quality in _qualities(preferred_quality):
            options = {"quality": quality, "subsampling": subsampling}
            encoded = _encode(opaque, "JPEG", options)
            if len(encoded.data) <= settings.max_image_bytes:
                return encoded
    finally:
        if opaque is not image:
            opaque.close()
    raise ToolFailure(
        ErrorCode.RESOURCE_TOO_LARGE,
        f"even as a JPEG at quality {quality} the image is {len(encoded.data):,} bytes, over "
        f"the {settings.max_image_bytes:,}-byte limit (IMAGE_MCP_MAX_IMAGE_BYTES); ask for "
        "detail=low or raise IMAGE_MCP_MAX_IMAGE_BYTES",
    )


def _qualities(preferred: int) -> tuple[int, ...]:
    return (preferred, *(quality for quality in _FALLBACK_QUALITIES if quality < preferred))


def _encode(image: Image.Image, format_name: str, options: dict[str, object]) -> Encoded:
    # Only the colour profile is carried over: no EXIF (already applied, and may hold GPS).
    buffer = io.BytesIO()
    image.save(buffer, format_name, icc_profile=image.info.get("icc_profile"), **options)
    return Encoded(format_name, buffer.getvalue())
