"""What kind of image reference a string is, and the refusals that happen before any IO."""

from __future__ import annotations

import pytest

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.sources.classify import classify
from tests.sources.fakes import JPEG_B64, PNG_B64


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("data:image/png;base64,AAAA", "data_url"),
        ("DATA:image/png;base64,AAAA", "data_url"),
        ("https://example.com/cat.png", "url"),
        ("HTTP://example.com/cat.png?size=2", "url"),
        ("file:///srv/images/cat.png", "file"),
        ("FILE://localhost/srv/cat.png", "file"),
        ("/srv/images/cat.png", "file"),
        ("images/cat.png", "file"),
        ("cat.png", "file"),
        ("./photo", "file"),
        ("~/Pictures/cat.jpeg", "file"),
        ("C:\\Users\\me\\cat.png", "file"),
        ("c:/Users/me/cat.png", "file"),
        ("\\\\server\\share\\cat.png", "file"),
        ("/c/Users/me/cat.png", "file"),
        # Base64 alphabet but a path: long, with slashes, not decoding to an image signature.
        ("/home/someone/projects/screenshots/latest_capture", "file"),
        (PNG_B64, "base64"),
        (JPEG_B64, "base64"),  # starts with "/9j/", like an absolute path
        ("\n".join(PNG_B64[i : i + 76] for i in range(0, len(PNG_B64), 76)), "base64"),
        (PNG_B64.replace("+", "-").replace("/", "_").rstrip("="), "base64"),
        ("QUJD" * 1025 + "/x", "base64"),  # longer than any path can be
    ],
)
def test_classifies_each_accepted_form(text: str, kind: str) -> None:
    assert classify(text) == kind


@pytest.mark.parametrize(
    "text",
    ["ftp://example.com/cat.png", "gopher://x/", "javascript:alert(1)", "mailto:a@b.c", "ws://x/"],
)
def test_other_schemes_are_refused_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(ToolFailure) as failure:
        classify(text)
    assert failure.value.code == ErrorCode.BLOCKED_HOST
    assert "https://" in failure.value.message
    assert "base64" in failure.value.message


@pytest.mark.parametrize("text", ["", "hello", "QUJDRA==", "not an image at all"])
def test_unrecognised_input_is_invalid_and_lists_the_accepted_forms(text: str) -> None:
    with pytest.raises(ToolFailure) as failure:
        classify(text)
    assert failure.value.code == ErrorCode.INVALID_INPUT
    assert "data:image/" in failure.value.message
