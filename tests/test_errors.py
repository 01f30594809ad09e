"""The failure type's guarantees and the helper that quotes other servers' text in messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openrouter_image_mcp.errors import ErrorCode, ToolFailure, one_line, quote_remote

# What a hostile server can put into text we quote: each must vanish without a trace.
HIDDEN = {
    "ANSI colour": "\x1b[31;1m",
    "ANSI reset": "\x1b[0m",
    "8-bit CSI": "\x9b2J",
    "OSC title with BEL": "\x1b]0;owned\x07",
    "OSC hyperlink with ST": "\x1b]8;;https://evil.example\x1b\\",
    "two-character escape": "\x1bc",
    "bell and backspace": "\x07\x08",
    "DEL": "\x7f",
    "C1 controls": "\x85\x9c\x9f",
    "bidi override": "\u202e",
    "bidi isolate": "\u2066\u2069",
    "zero-width space and joiner": "\u200b\u200d",
    "byte order mark": "\ufeff",
    "tag characters": "\U000e0041\U000e0042",
    "variation selector": "\ufe0f\U000e0100",
    "lone surrogate": "\ud800",
}


@pytest.mark.parametrize("hidden", list(HIDDEN.values()), ids=list(HIDDEN))
def test_invisible_and_terminal_controlling_text_is_removed(hidden: str) -> None:
    assert quote_remote(f"Not{hidden} Found{hidden}") == "Not Found"


def test_line_breaks_and_tabs_become_single_spaces() -> None:
    assert one_line("a\r\n\tb\u2028c\x0b\x1cd   e") == "a b c d e"


def test_long_text_is_cut_to_the_limit_with_an_ellipsis() -> None:
    assert quote_remote("x" * 500, 10) == "x" * 9 + "…"
    assert quote_remote("short", 10) == "short"


def test_keys_and_bearer_tokens_are_redacted_even_when_split_by_invisible_characters() -> None:
    text = "key sk-or-v1-\u200babcdef123456 and Bearer tok\u200ben123 leaked"
    assert quote_remote(text) == "key [redacted] and [redacted] leaked"


def test_visible_unicode_is_kept() -> None:
    assert quote_remote("Bild nicht gefunden: café × 2 — 画像") == (
        "Bild nicht gefunden: café × 2 — 画像"
    )


def test_every_failure_message_is_one_printable_line() -> None:
    failure = ToolFailure(ErrorCode.FETCH_FAILED, "bad\n\x1b[2Jthing\u202e here")
    assert failure.message == "bad thing here"


@given(st.text(max_size=2000), st.integers(min_value=2, max_value=300))
def test_quoted_text_is_bounded_and_has_nothing_invisible(text: str, limit: int) -> None:
    quoted = quote_remote(text, limit)
    assert len(quoted) <= limit
    assert quoted == quoted.strip()
    assert "\x1b" not in quoted
    assert all(char == " " or not char.isspace() for char in quoted)
    assert one_line(quoted) == quoted  # nothing left to strip
