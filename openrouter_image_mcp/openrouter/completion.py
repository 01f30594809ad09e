"""What comes back from a 200 answer: the model's text and its usage, or why there is none.

A 200 does not mean success on OpenRouter: the body may carry an error (top level, or on the
choice), a refusal, a content filter stop, or an empty answer when a reasoning model spent its
whole token budget thinking. Each becomes a `ToolFailure`, or an `UpstreamError` when the
retry policy should look at its code first.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from openrouter_image_mcp.errors import ErrorCode, ToolFailure
from openrouter_image_mcp.openrouter.mapping import UpstreamError, clean, read_error


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    reasoning_tokens: int | None
    cost: float | None  # USD, as billed by OpenRouter

    def as_meta(self) -> dict[str, Any]:
        """Only the fields OpenRouter reported."""
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    model: str  # as served, which can differ from the one asked for
    generation_id: str | None  # the `id` of the answer, same as the X-Generation-Id header
    provider: str | None
    finish_reason: str | None
    usage: Usage


def decode_json(raw: bytes) -> object:
    """The JSON in a body, or None; OpenRouter may send whitespace before it to keep alive."""
    try:
        return json.loads(raw.lstrip())
    except ValueError:
        return None


def parse_completion(
    payload: object, *, requested_model: str, header_generation_id: str | None
) -> Completion | UpstreamError:
    """Read a 200 body; raise `ToolFailure` when it holds no usable answer."""
    if not isinstance(payload, dict):
        raise _malformed()
    choices = payload.get("choices")
    if not choices:
        if "error" in payload:
            return read_error(payload)
        raise _malformed()
    choice = choices[0] if isinstance(choices, list) else None
    if not isinstance(choice, dict):
        raise _malformed()
    finish_reason = _text(choice.get("finish_reason"))
    if isinstance(choice.get("error"), dict) or finish_reason == "error":
        return read_error({"error": choice.get("error")})
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    usage = parse_usage(payload.get("usage"))
    return Completion(
        content=_answer(message, finish_reason, usage),
        model=_text(payload.get("model")) or requested_model,
        generation_id=_text(payload.get("id")) or header_generation_id,
        provider=_text(payload.get("provider")),
        finish_reason=finish_reason,
        usage=usage,
    )


def parse_usage(raw: object) -> Usage:
    usage = raw if isinstance(raw, dict) else {}
    details = usage.get("completion_tokens_details")
    details = details if isinstance(details, dict) else {}
    return Usage(
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        total_tokens=_count(usage.get("total_tokens")),
        reasoning_tokens=_count(details.get("reasoning_tokens")),
        cost=_cost(usage.get("cost")),
    )


def _answer(message: dict[str, Any], finish_reason: str | None, usage: Usage) -> str:
    refusal = clean(message.get("refusal"))
    if refusal:
        raise ToolFailure(
            ErrorCode.UPSTREAM_REFUSED,
            f"the model refused: {refusal}; rephrase the prompt or pick another model",
        )
    if finish_reason == "content_filter":
        raise ToolFailure(
            ErrorCode.UPSTREAM_REFUSED,
            "the provider's content filter stopped the answer; "
            "change the prompt or image, or pick another model",
        )
    content = _content_text(message.get("content"))
    if content.strip():
        return content
    reasoned = message.get("reasoning") or message.get("reasoning_details")
    if finish_reason == "length" and (reasoned or usage.reasoning_tokens):
        raise ToolFailure(
            ErrorCode.REASONING_CUTOFF,
            "the model spent its token budget on reasoning; "
            "raise max_tokens or use a non-reasoning model",
        )
    raise ToolFailure(
        ErrorCode.UPSTREAM_UNAVAILABLE,
        "the model returned an empty answer; retry, or pick another model",
    )


def _content_text(content: object) -> str:
    """`content` is a string, but some providers send a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _malformed() -> ToolFailure:
    return ToolFailure(
        ErrorCode.UPSTREAM_UNAVAILABLE,
        "OpenRouter sent an answer in an unexpected shape; retry later, "
        "and check that OPENROUTER_BASE_URL points at the OpenRouter API",
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _cost(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None
