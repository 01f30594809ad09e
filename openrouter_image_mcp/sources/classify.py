"""Decide what kind of image reference a tool argument is: data URL, http(s) URL, file, base64.

Order matters: `data:` first, then Windows paths (a drive letter looks like a URL scheme),
then URL schemes, then base64, then local paths. Base64 and POSIX paths share an alphabet
(JPEG base64 starts with `/9j/`), so a base64-looking string containing `/` counts as base64
only when its first bytes decode to a known image signature.
"""

from __future__ import annotations

import base64
import binascii
import re

from ..errors import ErrorCode, ToolFailure
from .models import SourceKind

ACCEPTED_FORMS = (
    "an https:// or http:// URL, a data:image/<type>;base64,... URL, a local file path "
    "(./name for a file without an extension), or the image bytes as base64"
)

# Shorter strings are never taken as base64: the smallest real images encode longer.
MIN_BASE64_CHARS = 32
# Linux PATH_MAX: a longer string cannot be a path, so only its start needs a look.
_PATH_MAX = 4096

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_WINDOWS_PATH = re.compile(r"[A-Za-z]:|\\\\")
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/_\-\s]+=*\s*")
_FILE_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}\Z")
_IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"BM", b"II*\x00", b"MM\x00*")


def classify(text: str) -> SourceKind:
    """The kind of `text` (already stripped), or ToolFailure when it is none of them."""
    if not text:
        raise ToolFailure(ErrorCode.INVALID_INPUT, f"image_path is empty; pass {ACCEPTED_FORMS}")
    if text[:5].lower() == "data:":
        return "data_url"
    if is_windows_path(text):
        return "file"
    if scheme := _SCHEME.match(text):
        return _kind_of_scheme(scheme.group(1).lower())
    if _looks_like_base64(text):
        return "base64"
    if _looks_like_path(text):
        return "file"
    raise ToolFailure(
        ErrorCode.INVALID_INPUT,
        f"image_path is not a URL, file path or base64 image; pass {ACCEPTED_FORMS}",
    )


def is_windows_path(text: str) -> bool:
    """A drive path (C:\\x, C:/x) or a UNC path (\\\\server\\share)."""
    return _WINDOWS_PATH.match(text) is not None


def _kind_of_scheme(scheme: str) -> SourceKind:
    if scheme in ("http", "https"):
        return "url"
    if scheme == "file":
        return "file"
    raise ToolFailure(
        ErrorCode.BLOCKED_HOST,
        f"{scheme}: references are refused; pass {ACCEPTED_FORMS}",
    )


def _looks_like_base64(text: str) -> bool:
    if len(text) < MIN_BASE64_CHARS or not _BASE64_TEXT.fullmatch(text[:_PATH_MAX]):
        return False
    return len(text) > _PATH_MAX or "/" not in text or _starts_like_image(text)


def _starts_like_image(text: str) -> bool:
    head = "".join(text[:64].split())[:16].replace("-", "+").replace("_", "/")
    try:
        prefix = base64.b64decode(head, validate=True)
    except binascii.Error:
        return False
    return prefix.startswith(_IMAGE_SIGNATURES) or prefix[4:8] == b"ftyp"


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith(("/", "~", "."))
        or "/" in text
        or "\\" in text
        or _FILE_EXTENSION.search(text[-6:]) is not None
    )
