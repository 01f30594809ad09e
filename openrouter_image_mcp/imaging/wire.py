"""The messages between the server and its image worker processes.

A message is a 4-byte big-endian length, a JSON header of that length, then the byte
payloads the header's "sizes" list announces, back to back. JSON rather than pickle: a
worker parses hostile images, so the server reads nothing from it that could run code.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

LENGTH = struct.Struct(">I")
MAX_HEADER_BYTES = 64 * 1024


class WireError(RuntimeError):
    """A message that breaks the format: the other side is broken or gone."""


def header_bytes(header: dict[str, Any], payloads: Sequence[bytes]) -> bytes:
    """The length and header that go before `payloads`."""
    text = json.dumps({**header, "sizes": [len(payload) for payload in payloads]})
    encoded = text.encode()
    return LENGTH.pack(len(encoded)) + encoded


def header_length(prefix: bytes) -> int:
    (length,) = LENGTH.unpack(prefix)
    if length > MAX_HEADER_BYTES:
        raise WireError(f"a message header of {length} bytes")
    return length


def parse_header(encoded: bytes) -> tuple[dict[str, Any], list[int]]:
    """The header and the payload sizes it announces."""
    try:
        header = json.loads(encoded)
    except ValueError as error:
        raise WireError("a message header that is not JSON") from error
    sizes = header.pop("sizes", None) if isinstance(header, dict) else None
    if not isinstance(sizes, list) or not all(
        isinstance(size, int) and size >= 0 for size in sizes
    ):
        raise WireError("a message header without payload sizes")
    return header, sizes
