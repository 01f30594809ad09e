"""What was received and what is sent: the results of preparing an image."""

from __future__ import annotations

import binascii
from dataclasses import dataclass

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
    """An image ready to put in a chat message, with what was done to it."""

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
class Preparation:
    """What preparing an image decided, before the bytes are wrapped for a chat message.

    `payload` is None when the received bytes go out unchanged, so whoever holds them (the
    server, when a worker process did the preparing) wraps its own copy: a pass-through
    never sends the image back.
    """

    received: ImageFacts
    sent: ImageFacts
    payload: bytes | None

    def prepared(self, raw: bytes) -> PreparedImage:
        """The image to send; `raw` are the received bytes this preparation was made from."""
        if self.payload is None:
            return PreparedImage.build(raw, self.sent, self.received, passthrough=True)
        return PreparedImage.build(self.payload, self.sent, self.received, passthrough=False)


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
