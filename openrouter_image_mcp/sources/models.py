"""The values the image sources hand to the rest of the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

SourceKind = Literal["file", "url", "data_url", "base64"]

# (host, port) -> the IP address strings the host resolves to.
Resolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True, slots=True)
class SourceImage:
    """Raw image bytes exactly as stored, served or decoded, and where they came from."""

    data: bytes
    kind: SourceKind
