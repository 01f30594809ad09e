"""Every way a tool call can fail, as a stable code the calling agent can act on.

Modules raise `ToolFailure`; the tool layer turns it into an MCP result with `isError: true`,
a one-line message and `structuredContent = {"error": {...}}`. Messages say what went wrong
and what to do; they never carry secrets, tracebacks or internal paths.
"""

from __future__ import annotations

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
        self.message = " ".join(message.split())  # always one line
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
