"""The request body as JSON bytes, streamed so that the image is never copied into it.

A request's data URL is the largest thing a call holds (up to ~27 MB as base64). Encoding the
body with json.dumps would hold a second copy of it for the whole upstream wait; instead the
JSON around each data URL is encoded once and the data URL itself is streamed from the
string the message already holds, in slices. Base64 data URLs need no JSON escaping, which is
checked; any other string goes through json.dumps as usual.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

SLICE_CHARS = 1 << 20
_PLAIN_DATA_URL = re.compile(r"data:[A-Za-z0-9.+/-]+;base64,[A-Za-z0-9+/=]*")


@dataclass(frozen=True, slots=True)
class JsonBody:
    """JSON text split around the data URLs it contains: text, url, text, url, ..., text."""

    texts: tuple[bytes, ...]
    urls: tuple[str, ...]

    @classmethod
    def encode(cls, body: dict[str, Any]) -> JsonBody:
        """Raises ValueError for values JSON cannot carry (NaN, infinity)."""
        marker = f"\x00{secrets.token_hex(8)}\x00"
        urls: list[str] = []

        def lift(value: Any) -> Any:
            if isinstance(value, str) and _PLAIN_DATA_URL.fullmatch(value):
                urls.append(value)
                return marker
            if isinstance(value, dict):
                return {key: lift(item) for key, item in value.items()}
            if isinstance(value, list):
                return [lift(item) for item in value]
            return value

        text = json.dumps(lift(body), allow_nan=False, separators=(",", ":"))
        quoted_marker = json.dumps(marker)[1:-1]  # how the marker reads inside a JSON string
        return cls(tuple(part.encode() for part in text.split(quoted_marker)), tuple(urls))

    @property
    def length(self) -> int:
        # Plain base64 data URLs are ASCII: one byte per character.
        return sum(map(len, self.texts)) + sum(map(len, self.urls))

    def chunks(self) -> Iterator[bytes]:
        """The body's bytes, afresh on every call (one per attempt)."""
        for text, url in zip(self.texts, (*self.urls, ""), strict=True):
            yield text
            for start in range(0, len(url), SLICE_CHARS):
                yield url[start : start + SLICE_CHARS].encode("ascii")

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks():
            yield chunk

    def __bytes__(self) -> bytes:
        return b"".join(self.chunks())
