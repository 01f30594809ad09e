"""How OpenRouter's error answers become `ToolFailure`s the calling agent can act on.

OpenRouter reports errors as `{"error": {"code", "message", "metadata"}}`, either with the same
HTTP status or inside a 200 answer when the model failed after routing. `read_error` pulls that
shape apart tolerantly; `to_failure` decides the stable code and writes the one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openrouter_image_mcp.errors import ErrorCode, ToolFailure, quote_remote

_MODELS_PAGE = "https://openrouter.ai/models"
MAX_PRICE_RETRY_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class UpstreamError:
    """One error answer from OpenRouter, reduced to what the mapping needs."""

    status: int | None  # the HTTP status, or the code embedded in a 200 body; None if unknown
    message: str  # OpenRouter's own text, already cleaned for display
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error_type: str | None = None  # a typed image error such as "invalid_image"


@dataclass(frozen=True, slots=True)
class _Problem:
    """A failure that needs no more than a fixed code, description and advice."""

    code: ErrorCode
    what: str
    todo: str
    retryable: bool | None = None  # None: as the code says

    def failure(self, error: UpstreamError) -> ToolFailure:
        return ToolFailure(
            self.code, f"{self.what}{_quoted(error)}; {self.todo}", retryable=self.retryable
        )


# Typed image errors; they come with a 400 (404 for image_not_found) and say more than it.
_IMAGE_PROBLEMS: dict[str, _Problem] = {
    "image_download_failed": _Problem(
        ErrorCode.FETCH_FAILED,
        "OpenRouter could not download the image URL",
        "make sure the URL is publicly reachable, or send the image itself instead",
    ),
    "image_not_found": _Problem(
        ErrorCode.FETCH_FAILED,
        "the image URL answered 'not found' to OpenRouter",
        "check the URL, or send the image itself instead",
        retryable=False,  # a missing image stays missing
    ),
    "invalid_image": _Problem(
        ErrorCode.INVALID_INPUT,
        "the model's provider could not read the image",
        "send a valid PNG, JPEG, WebP or GIF image",
    ),
    "image_too_large": _Problem(
        ErrorCode.RESOURCE_TOO_LARGE,
        "the image exceeds the provider's size or pixel limit",
        "send a smaller image or resize it",
    ),
    "image_too_small": _Problem(
        ErrorCode.INVALID_INPUT,
        "the image is below the provider's minimum size",
        "send a larger image",
    ),
    "unsupported_image_format": _Problem(
        ErrorCode.UNSUPPORTED_FORMAT,
        "the provider does not accept this image format",
        "send PNG, JPEG, WebP or GIF",
    ),
}

# Statuses whose meaning does not depend on the body.
_STATUS_PROBLEMS: dict[int, _Problem] = {
    401: _Problem(
        ErrorCode.UPSTREAM_AUTH, "OpenRouter rejected the API key", "check OPENROUTER_API_KEY"
    ),
    408: _Problem(
        ErrorCode.UPSTREAM_TIMEOUT, "the model took too long", "retry, or pick a faster model"
    ),
    413: _Problem(
        ErrorCode.RESOURCE_TOO_LARGE,
        "the request is too large for OpenRouter",
        "send a smaller image",
    ),
    429: _Problem(
        ErrorCode.UPSTREAM_RATE_LIMITED,
        "OpenRouter's rate limit was hit",
        "wait and retry, or use a paid model or a key with a higher limit",
    ),
}

# 402s, by metadata.limit_source.
_CREDIT_PROBLEMS: dict[str, _Problem] = {
    "openrouter_credits": _Problem(
        ErrorCode.UPSTREAM_CREDITS,
        "the OpenRouter account is out of credits",
        "add credits at https://openrouter.ai/settings/credits",
    ),
    "openrouter_key_limit": _Problem(
        ErrorCode.UPSTREAM_CREDITS,
        "the API key's credit limit is reached",
        "raise the key's limit at https://openrouter.ai/settings/keys",
    ),
    "in_flight_budget": _Problem(
        ErrorCode.UPSTREAM_CREDITS,
        "requests already running use up the remaining credits",
        "retry when they finish, or add credits",
        retryable=True,
    ),
}


def clean(text: object, limit: int = 200) -> str:
    """Upstream text made safe to show (see `quote_remote`); "" for anything not a string."""
    return quote_remote(text, limit) if isinstance(text, str) else ""


def read_error(payload: object, *, http_status: int | None = None) -> UpstreamError:
    """The error inside an answer body; any shape (even non-JSON, passed as None) is accepted."""
    error = _mapping(payload.get("error")) if isinstance(payload, dict) else {}
    metadata = _mapping(error.get("metadata"))
    code = error.get("code")
    return UpstreamError(
        status=http_status or _status_from_code(code),
        message=clean(error.get("message")),
        metadata=metadata,
        error_type=_image_error_type(
            error.get("message"),
            payload.get("error_type") if isinstance(payload, dict) else None,
            error.get("type"),
            metadata.get("error_type"),
            metadata.get("type"),
            code,
        ),
    )


def to_failure(error: UpstreamError, *, retry_after_s: float | None = None) -> ToolFailure:
    """The tool failure for one upstream error; `retry_after_s` comes from the headers."""
    failure = _handler_for(error)(error)
    if failure.retryable and retry_after_s is not None:
        failure.retry_after_s = retry_after_s
    return failure


def _handler_for(error: UpstreamError) -> Callable[[UpstreamError], ToolFailure]:
    problem = _IMAGE_PROBLEMS.get(error.error_type or "") or _STATUS_PROBLEMS.get(error.status or 0)
    if problem is not None:
        return problem.failure
    handler = _BY_STATUS.get(error.status or 0)
    if handler is not None:
        return handler
    is_client_error = error.status is not None and 400 <= error.status < 500
    return _bad_request if is_client_error else _unavailable


def _bad_request(error: UpstreamError) -> ToolFailure:
    if "not a valid model id" in error.message.lower():
        return ToolFailure(
            ErrorCode.MODEL_NOT_FOUND,
            f"OpenRouter does not know this model{_quoted(error)}; "
            f"use a model id listed at {_MODELS_PAGE}",
        )
    return ToolFailure(
        ErrorCode.INVALID_INPUT,
        f"OpenRouter rejected the request{_quoted(error)}; "
        "check the model, max_tokens, temperature and image arguments",
    )


def _payment_required(error: UpstreamError) -> ToolFailure:
    source = error.metadata.get("limit_source")
    problem = _CREDIT_PROBLEMS.get(source if isinstance(source, str) else "")
    return (problem or _CREDIT_PROBLEMS["openrouter_credits"]).failure(error)


def _forbidden(error: UpstreamError) -> ToolFailure:
    if "reasons" in error.metadata or "flagged_input" in error.metadata:
        return ToolFailure(
            ErrorCode.UPSTREAM_REFUSED,
            f"OpenRouter's moderation flagged the input{_reasons(error.metadata)}; "
            "change the prompt or image, or pick a model without moderation",
        )
    return ToolFailure(
        ErrorCode.UPSTREAM_AUTH,
        f"OpenRouter refused the request{_quoted(error)}; check that the API key is enabled "
        "and its guardrails allow this model",
    )


def _reasons(metadata: Mapping[str, Any]) -> str:
    reasons = metadata.get("reasons")
    named = [clean(reason, 60) for reason in reasons] if isinstance(reasons, list) else []
    return f" ({', '.join(filter(None, named))})" if any(named) else ""


# How OpenRouter says that the request's `provider` preferences left no endpoint.
_UNMET_PREFERENCES = (
    "data policy",
    "allowed providers",
    "requested parameters",
    "provider preferences",
)


def _not_found(error: UpstreamError) -> ToolFailure:
    if "max_price" in error.message.lower() or "max price" in error.message.lower():
        return ToolFailure(
            ErrorCode.UPSTREAM_UNAVAILABLE,
            f"no provider serves this model at its listed price right now{_quoted(error)}; "
            "this server's spend limits pin requests to that price (provider.max_price), so "
            "retry later, or pick another model",
            retry_after_s=MAX_PRICE_RETRY_AFTER_S,
        )
    if any(phrase in error.message.lower() for phrase in _UNMET_PREFERENCES):
        return ToolFailure(
            ErrorCode.UPSTREAM_UNAVAILABLE,
            f"no provider of this model meets this server's routing and privacy settings "
            f"right now{_quoted(error)}; pick another model, or ask the operator to relax "
            "IMAGE_MCP_PROVIDER_* (or add IMAGE_MCP_FALLBACK_MODELS)",
            retryable=False,
        )
    routing_step = str(error.metadata.get("failed_routing_step", ""))
    if "image input" in error.message.lower() or "image" in routing_step.lower():
        return ToolFailure(
            ErrorCode.MODEL_NO_VISION,
            f"this model cannot read images{_quoted(error)}; pick a vision model "
            "(image input at https://openrouter.ai/models), or omit `model` to use the default",
        )
    return ToolFailure(
        ErrorCode.MODEL_NOT_FOUND,
        f"OpenRouter found no such model{_quoted(error)}; use a model id listed at {_MODELS_PAGE}",
    )


def _unavailable(error: UpstreamError) -> ToolFailure:
    provider = clean(error.metadata.get("provider_name"), 40)
    raw = clean(error.metadata.get("raw"), 120)
    said = f"; {provider or 'the provider'} said: {raw}" if raw else ""
    return ToolFailure(
        ErrorCode.UPSTREAM_UNAVAILABLE,
        f"OpenRouter or the model's provider failed{_quoted(error)}{said}; "
        "retry later, or pick another model",
    )


_BY_STATUS: dict[int, Callable[[UpstreamError], ToolFailure]] = {
    402: _payment_required,
    403: _forbidden,
    404: _not_found,
}


def _quoted(error: UpstreamError) -> str:
    return f" (OpenRouter: {error.message})" if error.message else ""


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _status_from_code(code: object) -> int | None:
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.isdigit():
        return int(code)
    return None


def _image_error_type(message: object, *candidates: object) -> str | None:
    """The typed image error, wherever this gateway version put it (field or message text)."""
    for candidate in candidates:
        if isinstance(candidate, str) and candidate in _IMAGE_PROBLEMS:
            return candidate
    if isinstance(message, str):
        return next((name for name in _IMAGE_PROBLEMS if name in message), None)
    return None
