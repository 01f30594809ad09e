"""This server's own spans and attributes, beneath FastMCP's span for each tool call.

    tools/call analyze_image            FastMCP's; we add the outcome code, cache, model, cost
      image_mcp.load                    loading the image's bytes
      image_mcp.prepare                 preparing it in an image worker (model)
      image_mcp.upstream                asking the model, repair included (model)
        chat google/gemini-2.5-flash    one request to OpenRouter: code, cost, tokens

Only the OpenTelemetry API is used (FastMCP imports it anyway): without a tracer provider
(export.py sets one up on request) every span here is a no-op costing microseconds.
Attributes say what happened, never what was asked: no image bytes, questions, prompts, URLs,
file paths, tokens or keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from ..errors import OK, ErrorCode, ToolFailure

T = TypeVar("T")

# A proxy until a tracer provider is set, then that provider's tracer.
TRACER = trace.get_tracer("openrouter_image_mcp")
PREFIX = "image_mcp"
CODE = f"{PREFIX}.code"
COST = f"{PREFIX}.cost_usd"
REQUEST_MODEL = "gen_ai.request.model"


async def traced(stage: str, work: Awaitable[T], *, model: str | None = None) -> T:
    """`work`'s result, awaited inside the span `image_mcp.<stage>`, marked with its outcome
    (and the model the stage works for)."""
    with TRACER.start_as_current_span(
        f"{PREFIX}.{stage}",
        attributes={REQUEST_MODEL: model} if model else None,
        record_exception=False,  # exception text may quote what was asked
        set_status_on_exception=False,
    ) as span:
        try:
            result = await work
        except ToolFailure as failure:
            mark_outcome(span, failure.code)
            raise
        except Exception:
            mark_outcome(span, ErrorCode.INTERNAL)
            raise
        mark_outcome(span, OK)
        return result


def mark_outcome(span: Span, code: str) -> None:
    span.set_attribute(CODE, code)
    if code != OK:
        span.set_status(Status(StatusCode.ERROR, code))


def annotate_call(code: str, meta: Mapping[str, Any] | None = None) -> None:
    """Mark the span of the tool call under way (FastMCP's) with its outcome and, from the
    result's `_meta`, the cache status, model served, cost and tokens."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    mark_outcome(span, code)
    if meta is None:
        return
    usage = meta.get("usage", {})
    attributes = {
        f"{PREFIX}.cache": meta.get("cache"),
        "gen_ai.response.model": meta.get("model"),
        COST: usage.get("cost"),
        "gen_ai.usage.input_tokens": usage.get("prompt_tokens"),
        "gen_ai.usage.output_tokens": usage.get("completion_tokens"),
    }
    span.set_attributes({name: value for name, value in attributes.items() if value is not None})


def start_request(model: str) -> Span:
    """The span of one request to OpenRouter, a child of the current span; end it with
    `end_request`."""
    return TRACER.start_span(
        f"chat {model}",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openrouter",
            REQUEST_MODEL: model,
        },
    )


def end_request(
    span: Span,
    code: str,
    charged_usd: float,
    prompt_tokens: int | None,
    completion_tokens: int | None,
) -> None:
    mark_outcome(span, code)
    span.set_attribute(COST, charged_usd)
    if prompt_tokens is not None:
        span.set_attribute("gen_ai.usage.input_tokens", prompt_tokens)
    if completion_tokens is not None:
        span.set_attribute("gen_ai.usage.output_tokens", completion_tokens)
    span.end()
