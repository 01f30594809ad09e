"""Decode images passed inline: `data:` URLs and bare base64.

The decoded size is computed from the encoded length and refused before anything is decoded.
Decoding is strict (no silently skipped characters); whitespace and line breaks are ignored,
the URL-safe alphabet and missing padding are accepted. A data URL's declared type is not
trusted: the bytes decide the format later.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote

from ..errors import ErrorCode, ToolFailure
from .messages import shorten, too_large

_DATA_URL_HEADER = re.compile(r"data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),", re.IGNORECASE)
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
_DATA_URL_FORM = "data:image/<type>;base64,<data>"


def decode_data_url(text: str, max_bytes: int) -> bytes:
    header = _DATA_URL_HEADER.match(text)
    if header is None:
        raise ToolFailure(
            ErrorCode.INVALID_INPUT, f"the data URL is malformed; use the form {_DATA_URL_FORM}"
        )
    mime = header["mime"].strip().lower()
    params = [param.strip().lower() for param in header["params"].split(";")[1:]]
    if not params or params[-1] != "base64":
        raise ToolFailure(
            ErrorCode.INVALID_INPUT,
            f"the data URL is not base64-encoded; use the form {_DATA_URL_FORM}",
        )
    if mime and not mime.startswith("image/") and mime != "application/octet-stream":
        raise ToolFailure(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"the data URL declares {shorten(mime, 60)}, not an image; send an image as "
            f"{_DATA_URL_FORM}",
        )
    payload = text[header.end() :]
    # Data URL bodies may be percent-encoded (%2B for +), also when they are base64.
    return decode_base64(unquote(payload) if "%" in payload else payload, max_bytes, "the data URL")


def decode_base64(text: str, max_bytes: int, subject: str = "the base64 image") -> bytes:
    compact = "".join(text.split())
    if not compact:
        raise ToolFailure(ErrorCode.INVALID_INPUT, f"{subject} carries no image data")
    padding = len(compact) - len(compact.rstrip("="))
    if len(compact) * 3 // 4 - padding > max_bytes:
        raise too_large(subject, max_bytes)
    if len(compact) % 4 == 1:
        raise _malformed(subject)
    if "-" in compact or "_" in compact:
        compact = compact.translate(_URLSAFE_TO_STANDARD)
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII character
        raise _malformed(subject) from None


def _malformed(subject: str) -> ToolFailure:
    return ToolFailure(
        ErrorCode.INVALID_INPUT,
        f"{subject} is not valid base64; send the complete image bytes base64-encoded",
    )
