"""The failures image checks report, worded once for every check that needs them."""

from __future__ import annotations

from ..errors import ErrorCode, ToolFailure

# Pillow's format names -> the names users know them by.
FORMAT_NAMES = {
    "JPEG": "JPEG",
    "PNG": "PNG",
    "WEBP": "WebP",
    "GIF": "GIF",
    "BMP": "BMP",
    "TIFF": "TIFF",
    "AVIF": "AVIF",
    "HEIF": "HEIF/HEIC",
}


def damaged(format_name: str | None) -> ToolFailure:
    name = FORMAT_NAMES.get(format_name, format_name) if format_name else None
    kind = f"{name} image" if name else "image"
    return ToolFailure(
        ErrorCode.INVALID_INPUT,
        f"the {kind} is corrupt or truncated; send the complete, undamaged file",
    )


def too_many_pixels(what: str, max_pixels: int) -> ToolFailure:
    return ToolFailure(
        ErrorCode.RESOURCE_TOO_LARGE,
        f"{what} the limit of {max_pixels:,} pixels (IMAGE_MCP_MAX_PIXELS); send a smaller "
        "image, or raise IMAGE_MCP_MAX_PIXELS",
    )


def over_structural_cap(subject: str, cap: int, things: str, advice: str) -> ToolFailure:
    """A container holding more of something than any ordinary image does."""
    return ToolFailure(
        ErrorCode.RESOURCE_TOO_LARGE, f"{subject} more than {cap:,} {things}; {advice}"
    )
