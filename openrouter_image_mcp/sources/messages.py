"""Failure wording shared by the image sources, so every source says it the same way."""

from __future__ import annotations

from ..errors import ErrorCode, ToolFailure

_ECHO_LIMIT = 120


def shorten(text: str, limit: int = _ECHO_LIMIT) -> str:
    """The user's input, cut down so an echo of it keeps a message short."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def format_bytes(size: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def too_large(subject: str, max_bytes: int) -> ToolFailure:
    return ToolFailure(
        ErrorCode.RESOURCE_TOO_LARGE,
        f"{subject} is larger than the {format_bytes(max_bytes)} limit "
        "(IMAGE_MCP_MAX_IMAGE_BYTES); send a smaller or more compressed image",
    )
