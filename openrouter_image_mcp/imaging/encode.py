"""Encoding a prepared picture in the format its content calls for, within the byte limit.

Graphics (screenshots, text, diagrams) go out as lossless WebP, never as JPEG, whose ringing
blurs small text. Measured on a 2560x1600 screenshot: lossless WebP at method=1, quality=0 gave
124 KB in 77 ms; PNG gave 346 KB in 127 ms at compress_level=1 and 279 KB at level 6. On real
documentation screenshots method 1 is 2-10x smaller than method 0 at about the same speed, but
on many-colour content it falls off a cliff (a 2000x1500 gradient: 377 ms against 39 ms; a
photo: 1.8 s against 0.17 s), so smooth graphics get method 0. Photographs go out as JPEG at
IMAGE_MCP_JPEG_QUALITY, transparency composited onto white. Over IMAGE_MCP_MAX_IMAGE_BYTES,
lossless gives way to JPEG, and JPEG quality steps down, before giving up.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image

from ..errors import ErrorCode, ToolFailure
from .classify import Content, classify
from .limits import PreparationSettings
from .modes import flattened_on_white

logger = logging.getLogger(__name__)

_LOSSLESS_WEBP_OPTIONS = {
    Content.GRAPHICS: {"lossless": True, "quality": 0, "method": 1},
    Content.SMOOTH_GRAPHICS: {"lossless": True, "quality": 0, "method": 0},
}
_FALLBACK_QUALITIES = (70, 50, 30)


@dataclass(frozen=True, slots=True)
class Encoded:
    format: str
    data: bytes


def encode_image(image: Image.Image, settings: PreparationSettings) -> Encoded:
    """`image` (L, LA, RGB or RGBA) as WEBP or JPEG bytes of at most max_image_bytes."""
    lossless_options = _LOSSLESS_WEBP_OPTIONS.get(classify(image))
    if lossless_options is not None:
        encoded = _encode(image, "WEBP", lossless_options)
        if len(encoded.data) <= settings.max_image_bytes:
            return encoded
        logger.debug("lossless is %d bytes, over the limit: trying JPEG", len(encoded.data))
    return _jpeg_within_limit(image, settings)


def _jpeg_within_limit(image: Image.Image, settings: PreparationSettings) -> Encoded:
    opaque = flattened_on_white(image)
    try:
        for quality in _qualities(settings.jpeg_quality):
            encoded = _encode(opaque, "JPEG", {"quality": quality})
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
