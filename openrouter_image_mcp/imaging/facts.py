"""What was received and what is sent: the results of preparing an image."""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

from .tiles import Tiling

# Formats every vision model behind OpenRouter accepts, with the MIME type to send them as.
UPSTREAM_MIME_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}

# A multiple of 3 so the base64 pieces join without padding in between.
_BASE64_CHUNK = 3 * 256 * 1024


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """Format, size and frame count of one image as bytes."""

    format: str
    width: int
    height: int
    bytes: int
    frames: int = 1

    def as_meta(self) -> dict[str, object]:
        meta: dict[str, object] = {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
        }
        if self.frames > 1:
            meta["frames"] = self.frames
        return meta


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An image (or one tile of it) ready to put in a chat message, with what was done to it."""

    mime: str
    data_url: str
    received: ImageFacts
    sent: ImageFacts
    passthrough: bool

    @classmethod
    def build(
        cls, payload: bytes, sent: ImageFacts, received: ImageFacts, *, passthrough: bool
    ) -> PreparedImage:
        """Wrap the bytes to send; `sent.format` must be one of UPSTREAM_MIME_TYPES."""
        mime = UPSTREAM_MIME_TYPES[sent.format]
        return cls(
            mime=mime,
            data_url=_data_url(mime, payload),
            received=received,
            sent=sent,
            passthrough=passthrough,
        )


@dataclass(frozen=True, slots=True)
class ImageParts:
    """One received image as it goes upstream: a single part, or its tiles in reading order."""

    parts: tuple[PreparedImage, ...]
    tiling: Tiling | None = None

    @property
    def received(self) -> ImageFacts:
        return self.parts[0].received

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """The size of each part as sent, in order."""
        return [(part.sent.width, part.sent.height) for part in self.parts]

    def as_meta(self) -> dict[str, Any]:
        """`{"received", "sent"}` for `_meta`; a tiled image's `sent` describes every tile."""
        if self.tiling is None:
            (part,) = self.parts
            sent = {**part.sent.as_meta(), "passthrough": part.passthrough}
        else:
            sent = self._tiles_meta(self.tiling)
        return {"received": self.received.as_meta(), "sent": sent}

    def _tiles_meta(self, tiling: Tiling) -> dict[str, Any]:
        formats = {part.sent.format for part in self.parts}
        meta: dict[str, Any] = {
            "format": formats.pop() if len(formats) == 1 else "mixed",
            "width": tiling.width,
            "height": tiling.height,
            "bytes": sum(part.sent.bytes for part in self.parts),
            "passthrough": False,
            "tiles": tiling.count,
            "scale": tiling.scale,
            "overlap_px": tiling.overlap_px,
            "order": tiling.order,
            "parts": [part.sent.as_meta() for part in self.parts],
        }
        if tiling.scaled_down:
            meta["scaled_down"] = True
        return meta


@dataclass(frozen=True, slots=True)
class Preparation:
    """What preparing an image decided, before the bytes are wrapped for a chat message.

    `sent` describes each part to send, in order: the image itself, or its tiles (`tiling`).
    `payloads` is None when the received bytes go out unchanged, so whoever holds them (the
    server, when a worker process did the preparing) wraps its own copy: a pass-through
    never sends the image back.
    """

    received: ImageFacts
    sent: tuple[ImageFacts, ...]
    payloads: tuple[bytes, ...] | None
    tiling: Tiling | None = None

    @property
    def sent_bytes(self) -> int:
        return sum(facts.bytes for facts in self.sent)

    def prepared(self, raw: bytes) -> ImageParts:
        """The image to send; `raw` are the received bytes this preparation was made from."""
        if self.payloads is None:
            image = PreparedImage.build(raw, self.received, self.received, passthrough=True)
            return ImageParts((image,))
        parts = tuple(
            PreparedImage.build(payload, sent, self.received, passthrough=False)
            for payload, sent in zip(self.payloads, self.sent, strict=True)
        )
        return ImageParts(parts, self.tiling)


def _data_url(mime: str, payload: bytes) -> str:
    # Encoding in chunks and joining once keeps the peak at one base64 copy plus the result,
    # instead of the bytes, their decoded str and the concatenated str all at once.
    view = memoryview(payload)
    pieces = [f"data:{mime};base64,"]
    pieces.extend(
        binascii.b2a_base64(view[start : start + _BASE64_CHUNK], newline=False).decode("ascii")
        for start in range(0, len(view), _BASE64_CHUNK)
    )
    return "".join(pieces)
