"""Every way a tool call can fail, as a stable code the calling agent can act on.

Modules raise `ToolFailure`; the tool layer turns it into an MCP result with `isError: true`,
a one-line message and `structuredContent = {"error": {...}}`. Messages say what went wrong
and what to do; they never carry secrets, tracebacks or internal paths.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    UNSAFE_PATH = "UNSAFE_PATH"
    BLOCKED_HOST = "BLOCKED_HOST"
    FETCH_FAILED = "FETCH_FAILED"
    RESOURCE_TOO_LARGE = "RESOURCE_TOO_LARGE"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    CONFIG_ERROR = "CONFIG_ERROR"
    UPSTREAM_AUTH = "UPSTREAM_AUTH"
    UPSTREAM_CREDITS = "UPSTREAM_CREDITS"
    UPSTREAM_RATE_LIMITED = "UPSTREAM_RATE_LIMITED"
    UPSTREAM_REFUSED = "UPSTREAM_REFUSED"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    MODEL_NO_VISION = "MODEL_NO_VISION"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    REASONING_CUTOFF = "REASONING_CUTOFF"
    MODEL_OUTPUT_INVALID = "MODEL_OUTPUT_INVALID"
    RATE_LIMITED = "RATE_LIMITED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    COST_LIMIT_EXCEEDED = "COST_LIMIT_EXCEEDED"
    INTERNAL = "INTERNAL"


OK = "OK"
"""The outcome code of a call or upstream request that succeeded, in logs, metrics and traces."""

# Codes where the same call may succeed later without the caller changing anything.
RETRYABLE_CODES = frozenset(
    {
        ErrorCode.FETCH_FAILED,
        ErrorCode.UPSTREAM_RATE_LIMITED,
        ErrorCode.UPSTREAM_TIMEOUT,
        ErrorCode.UPSTREAM_UNAVAILABLE,
        ErrorCode.RATE_LIMITED,
        ErrorCode.BUDGET_EXCEEDED,
    }
)


class ToolFailure(Exception):
    """A failure to report to the calling agent as a tool error with a stable code."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after_s: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.message = one_line(message)
        self.retryable = code in RETRYABLE_CODES if retryable is None else retryable
        self.retry_after_s = retry_after_s
        self.details = details or {}
        super().__init__(f"{code}: {self.message}")

    def to_payload(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": str(self.code),
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.retry_after_s is not None:
            error["retry_after_s"] = round(self.retry_after_s, 3)
        error.update(self.details)
        return {"error": error}


# ANSI escape sequences (CSI with 7- or 8-bit introducer, OSC up to its terminator, and the
# short ESC forms such as ESC c), removed whole so no `[31m` remnant is left behind.
_ANSI_ESCAPE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
)
# Control (Cc), format (Cf: bidi overrides and isolates, zero-width and tag characters) and
# surrogate (Cs) code points, plus variation selectors: invisible, or able to make a message
# read differently from what it says.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))
_SECRET = re.compile(r"\bsk-[A-Za-z0-9_-]{6,}|(?i:bearer)\s+\S+")
# Work on at most this many characters per quoted character: bounds the cost of huge input.
_SCAN_FACTOR = 8


def one_line(text: str) -> str:
    """`text` as one printable line: whitespace runs become one space; ANSI escapes, control,
    format (bidi, zero-width) and surrogate characters are dropped."""
    text = _ANSI_ESCAPE.sub("", text)
    return " ".join("".join(char for char in text if _shows(char) or char.isspace()).split())


def quote_remote(text: str, limit: int = 120) -> str:
    """Text another server wrote (a reason phrase, an upstream error), made fit to quote in a
    message: one printable line, anything key-like redacted, at most `limit` characters."""
    line = _SECRET.sub("[redacted]", one_line(text[: limit * _SCAN_FACTOR]))
    return line if len(line) <= limit else f"{line[: limit - 1]}…"


def _shows(char: str) -> bool:
    if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
        return False
    return not any(ord(char) in selectors for selectors in _VARIATION_SELECTORS)
