"""Pixel-format conversions: whatever a decoder produced, as 8-bit L, LA, RGB or RGBA."""

from __future__ import annotations

from PIL import Image

SENDABLE_MODES = frozenset({"L", "LA", "RGB", "RGBA"})
_DEEP_GRAY_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
# Modes Image.resize and Image.reduce handle (not I;16), converted after shrinking: less work.
_RESAMPLABLE_MODES = SENDABLE_MODES | {"I", "F", "CMYK", "YCbCr", "RGBX", "RGBa", "La"}
# Converting these to RGB changes colour space, so an embedded ICC profile no longer applies.
_FOREIGN_COLOUR_SPACES = frozenset({"CMYK", "LAB", "HSV"})
_SIXTEEN_BIT_TO_EIGHT = 255 / 65535


def needs_conversion_before_resampling(image: Image.Image) -> bool:
    """Palettes and bilevel images cannot be resampled, and a transparent colour key means
    nothing once neighbouring pixels are blended: those are converted first."""
    return image.mode not in _RESAMPLABLE_MODES or "transparency" in image.info


def to_sendable_mode(image: Image.Image) -> Image.Image:
    """The same picture in L, LA, RGB or RGBA; `image` itself when it already is."""
    mode = image.mode
    if mode in SENDABLE_MODES and "transparency" not in image.info:
        return image
    if mode in _DEEP_GRAY_MODES:
        return _deep_gray_to_l(image)
    gray = mode in ("1", "L", "La")
    if image.has_transparency_data:
        return image.convert("LA" if gray else "RGBA")
    converted = image.convert("L" if gray else "RGB")
    if mode in _FOREIGN_COLOUR_SPACES:
        converted.info.pop("icc_profile", None)
    return converted


def without_opaque_alpha(image: Image.Image) -> Image.Image:
    """Drop an alpha channel that is fully opaque everywhere (common in screenshots)."""
    if image.mode not in ("LA", "RGBA") or image.getextrema()[-1] != (255, 255):
        return image
    return image.convert(image.mode[:-1])


def flattened_on_white(image: Image.Image) -> Image.Image:
    """Composite a transparent image onto white, as a format without alpha needs."""
    if image.mode not in ("LA", "RGBA"):
        return image
    opaque_mode = image.mode[:-1]
    flattened = Image.new(opaque_mode, image.size, "white")
    with image.convert(opaque_mode) as colours, image.getchannel("A") as alpha:
        flattened.paste(colours, mask=alpha)
    if "icc_profile" in image.info:
        flattened.info["icc_profile"] = image.info["icc_profile"]
    return flattened


def _deep_gray_to_l(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):
        scale, offset = _SIXTEEN_BIT_TO_EIGHT, 0.0
        with image.convert("I") as wide:
            return _scaled_to_l(wide, scale, offset)
    low, high = image.getextrema()
    scale, offset = _stretch(float(low), float(high))
    return _scaled_to_l(image, scale, offset)


def _scaled_to_l(image: Image.Image, scale: float, offset: float) -> Image.Image:
    with image.point(lambda value: value * scale + offset) as scaled:
        return scaled.convert("L")


def _stretch(low: float, high: float) -> tuple[float, float]:
    """Scale and offset mapping 32-bit or float gray onto 0-255: as-is if it already fits,
    as 16-bit data if it fits that, else its own range."""
    if low >= 0 and high <= 255:
        return 1.0, 0.0
    if low >= 0 and high <= 65535:
        return _SIXTEEN_BIT_TO_EIGHT, 0.0
    span = max(high - low, 1.0)
    return 255 / span, -low * 255 / span
