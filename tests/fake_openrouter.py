"""A fake OpenRouter API over real HTTP on 127.0.0.1, for tests and benchmarks.

It behaves like the documented API (see docs/openrouter-api.md in the shared docs): it checks
the bearer key and the request shape, decodes every data-URL image it receives with Pillow and
records what arrived, and answers in the real response shape. By default the answer describes
the images ("I see a PNG image, 64x48 pixels.") or, for a `json_schema` response format, is a
valid instance of the requested schema. Models are routed and answers billed from the fake's
catalogue (fake_catalog.py), which GET /models serves; `bills` and `billed_usd` say what it
billed, so tests can hold the server to its budgets. Tests script other behaviours one request
at a time:

    with FakeOpenRouter() as fake:
        fake.script(rate_limited(reset_in_s=0.1), Reply(content="a cat"))
        ...
        assert fake.requests[-1].images[0].format == "PNG"

`provider` preferences and `models` fallbacks are checked and routed like the real API's (see
fake_catalog.py); every received image keeps its bytes, and `ocr_words()` reads its text with
tesseract (tests/ocr.py), so tests can check what a model could read.

Standalone, for benchmarks (prints the base URL on its first stdout line):

    python -m tests.fake_openrouter --port 0 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import io
import json
import math
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import anyio.to_thread
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from openrouter_image_mcp.settings import Settings
from tests.fake_catalog import (
    CATALOGUE,
    Routing,
    image_tokens,
    prompt_tokens,
    route_request,
    text_tokens,
)
from tests.ocr import read_words

FAKE_API_KEY = "sk-or-v1-" + "f4ke" * 16
ACCEPTED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF"})
DETAILS = frozenset({"auto", "low", "high", "original"})
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


# --- Behaviours: what the fake does with the next valid chat-completion request -------------


@dataclass(frozen=True)
class Reply:
    """A 200 completion. `content=None` means the default answer (description or schema)."""

    content: str | None = None
    model: str | None = None  # None: the model that answered (the requested one, or a router's)
    provider: str | None = None  # None: the endpoint's provider
    finish_reason: str = "stop"
    native_finish_reason: str | None = None
    reasoning: str | None = None
    reasoning_tokens: int = 0
    refusal: str | None = None
    choice_error: dict[str, Any] | None = None  # sets choices[0].error
    cost: float | None = None  # None: billed from the catalogue (see fake_catalog)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fail:
    """An error body `{"error": error, **extra}` with this status (200 for in-body errors)."""

    status: int
    error: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    """Any body at all, e.g. a proxy's HTML error page."""

    status: int
    body: bytes
    content_type: str = "text/html"


@dataclass(frozen=True)
class KeepAlive:
    """200 headers at once, a space every `interval_s` for `seconds`, then `then`'s body.

    The status is already sent, so a `Fail` here arrives as a 200 with an error body, as on
    the real API when a provider fails late.
    """

    seconds: float
    then: Reply | Fail = field(default_factory=Reply)
    interval_s: float = 0.1


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending any response."""


Behaviour = Reply | Fail | Raw | KeepAlive | Drop


# --- Ready-made behaviours for every documented error form -----------------------------------


def error_body(code: int, message: str, **metadata: Any) -> dict[str, Any]:
    """The `error` object in OpenRouter's shape."""
    error: dict[str, Any] = {"code": code, "message": message}
    if metadata:
        error["metadata"] = metadata
    return error


def no_auth_credentials() -> Fail:
    return Fail(401, error_body(401, "No auth credentials found"))


def user_not_found() -> Fail:
    return Fail(401, error_body(401, "User not found."))


_CREDIT_MESSAGES = {
    "openrouter_credits": "Insufficient credits. Add more using https://openrouter.ai/credits",
    "openrouter_key_limit": "Key limit exceeded. Manage it using https://openrouter.ai/settings/keys",
    "in_flight_budget": "Requests in flight exceed the remaining credit balance.",
}


def insufficient_credits(
    limit_source: str = "openrouter_credits", retry_after: str | None = None
) -> Fail:
    """402; `limit_source` is openrouter_credits, openrouter_key_limit or in_flight_budget."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    message = _CREDIT_MESSAGES[limit_source]
    return Fail(402, error_body(402, message, limit_source=limit_source), headers)


def moderation_flagged(
    reasons: Iterable[str] = ("violence",), flagged_input: str = "a flagged...prompt"
) -> Fail:
    metadata = {
        "reasons": list(reasons),
        "flagged_input": flagged_input,
        "provider_name": "OpenAI",
        "model_slug": "openai/gpt-5-mini",
    }
    return Fail(403, error_body(403, "openai/gpt-5-mini requires moderation.", **metadata))


def guardrail_blocked(reason: str = "Prompt injection detected") -> Fail:
    return Fail(403, error_body(403, f"Request blocked by guardrail: {reason}"))


def no_image_endpoints(model: str = "meta-llama/llama-3.3-70b-instruct") -> Fail:
    return Fail(
        404,
        error_body(
            404,
            "No endpoints found that support image input",
            failed_routing_step="Filter by Image Support",
            model=model,
        ),
    )


def model_not_found(model: str = "acme/ghost-1") -> Fail:
    return Fail(404, error_body(404, f"No endpoints found for {model}."))


def invalid_model_id(model: str = "not-a-model") -> Fail:
    return Fail(400, error_body(400, f"{model} is not a valid model ID"))


_IMAGE_ERROR_MESSAGES = {
    "image_download_failed": "Failed to download image from URL",
    "image_not_found": "Image not found at URL",
    "invalid_image": "The image could not be decoded",
    "image_too_large": "Image exceeds the provider's maximum size",
    "image_too_small": "Image is smaller than the provider's minimum dimensions",
    "unsupported_image_format": "Image format is not supported; use png, jpeg, webp or gif",
}


def image_error(error_type: str) -> Fail:
    """A typed image error: 400, or 404 for image_not_found."""
    status = 404 if error_type == "image_not_found" else 400
    body = error_body(status, _IMAGE_ERROR_MESSAGES[error_type], error_type=error_type)
    return Fail(status, body, extra={"error_type": error_type})


def request_timeout() -> Fail:
    return Fail(408, error_body(408, "Request timed out. Please try again."))


def payload_too_large() -> Fail:
    return Fail(413, error_body(413, "Downloaded image content cannot exceed 30MB"))


def rate_limited(
    reset_in_s: float = 60.0,
    retry_after: str | None = None,
    message: str = "Rate limit exceeded: free-models-per-min.",
) -> Fail:
    """429 with X-RateLimit-* headers; the reset is epoch milliseconds, as on the real API."""
    reset_ms = str(int((time.time() + reset_in_s) * 1000))
    headers = {
        "X-RateLimit-Limit": "20",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset_ms,
    }
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return Fail(429, error_body(429, message, headers=headers), headers)


def provider_error(
    raw: str = '{"error":{"message":"upstream overloaded","code":503}}',
    provider: str = "FakeProvider",
) -> Fail:
    """502 "Provider returned error" with the provider's own body in metadata.raw."""
    return Fail(502, error_body(502, "Provider returned error", raw=raw, provider_name=provider))


def no_provider(retry_after: str | None = None) -> Fail:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    message = "No allowed providers are available for the selected model."
    return Fail(503, error_body(503, message), headers)


def error_in_200(code: int = 502, message: str = "Provider returned error") -> Fail:
    """200 with a top-level error and no choices."""
    return Fail(200, error_body(code, message))


def choice_error(code: int = 502, message: str = "Provider disconnected mid-answer") -> Reply:
    """200 with choices[0].error and finish_reason "error"."""
    return Reply(content="", finish_reason="error", choice_error=error_body(code, message))


def content_filtered() -> Reply:
    return Reply(content="", finish_reason="content_filter", native_finish_reason="SAFETY")


def refused(refusal: str = "I can't help with that.") -> Reply:
    return Reply(content="", refusal=refusal)


def reasoning_cutoff(reasoning_tokens: int = 1 << 30) -> Reply:
    """A reasoning model that spent max_tokens thinking: length, empty content, reasoning.

    Completion tokens never exceed the request's max_tokens, so the default bills all of them.
    """
    return Reply(
        content="",
        finish_reason="length",
        native_finish_reason="MAX_TOKENS",
        reasoning="Let me look at the image carefully. First, the top left corner...",
        reasoning_tokens=reasoning_tokens,
    )


def fenced_json(value: object) -> Reply:
    return Reply(content=f"```json\n{json.dumps(value, indent=2)}\n```")


def prose_wrapped_json(value: object) -> Reply:
    return Reply(
        content=f"Here is the analysis:\n{json.dumps(value)}\nLet me know if you need more."
    )


def invalid_json() -> Reply:
    return Reply(content='{"description": "a cat", "objects": [')


# --- What the fake records ------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedImage:
    """One image part as it arrived. Data URLs are decoded; other URLs are kept as-is."""

    detail: str | None
    url: str | None = None  # set for non-data URLs only
    mime: str | None = None  # from the data URL
    byte_length: int | None = None
    format: str | None = None  # as Pillow decoded it, e.g. "PNG"
    width: int | None = None
    height: int | None = None
    problem: str | None = None  # the typed image error the real API would answer with
    data: bytes | None = field(default=None, repr=False, compare=False)  # the decoded bytes

    def ocr_words(self) -> list[str]:
        """The words tesseract reads in this image (tests/ocr.py)."""
        if self.data is None:
            raise ValueError("this image arrived as a URL, not as bytes")
        return read_words(self.data)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON body, or None
    images: list[ReceivedImage]

    @property
    def image(self) -> ReceivedImage:
        return self.images[0]

    def ocr_words(self) -> list[str]:
        """The words tesseract reads in every image of the request, in order."""
        return [word for image in self.images for word in image.ocr_words()]


# --- Request checks -------------------------------------------------------------------------


def _image_parts(body: object) -> list[dict[str, Any]]:
    """Every well-formed image_url part, in order; tolerant of any body."""
    messages = body.get("messages") if isinstance(body, dict) else None
    return [
        part["image_url"]
        for message in (messages if isinstance(messages, list) else [])
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict)
        and part.get("type") == "image_url"
        and isinstance(part.get("image_url"), dict)
        and isinstance(part["image_url"].get("url"), str)
    ]


def _receive_image(part: dict[str, Any]) -> ReceivedImage:
    url, detail = part["url"], part.get("detail")
    if not url.startswith("data:"):
        return ReceivedImage(detail=detail, url=url)
    header, comma, encoded = url.removeprefix("data:").partition(",")
    mime, _, encoding = header.partition(";")
    try:
        if not comma or encoding != "base64":
            raise ValueError("not a base64 data URL")
        data = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        return ReceivedImage(detail=detail, mime=mime or None, problem="invalid_image")
    return _decoded(data, detail, mime or None)


def _decoded(data: bytes, detail: str | None, mime: str | None) -> ReceivedImage:
    received = ReceivedImage(detail=detail, mime=mime, byte_length=len(data), data=data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format, image.size
            image.verify()
    except Image.DecompressionBombError:
        return replace(received, problem="image_too_large")
    except Exception:  # Pillow raises many types for undecodable data
        return replace(received, problem="invalid_image")
    problem = None if image_format in ACCEPTED_FORMATS else "unsupported_image_format"
    return replace(received, format=image_format, width=width, height=height, problem=problem)


def _shape_problem(body: object) -> str | None:
    """What is wrong with a chat-completion body, in the API's words, or None."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Expected string"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: Expected a non-empty array"
    for index, message in enumerate(messages):
        problem = _message_problem(message)
        if problem:
            return f"messages[{index}]: {problem}"
    return _parameter_problem(body)


def _message_problem(message: object) -> str | None:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        return "Expected an object with a valid role"
    content = message.get("content")
    if isinstance(content, str):
        return None
    if not isinstance(content, list) or not content:
        return "content: Expected a string or a non-empty array of parts"
    for part in content:
        problem = _part_problem(part)
        if problem:
            return problem
    if any(part["type"] == "image_url" for part in content) and content[0]["type"] != "text":
        return "content: the text part must come before the image"
    return None


def _part_problem(part: object) -> str | None:
    if not isinstance(part, dict):
        return "content part: Expected an object"
    if part.get("type") == "text":
        return None if isinstance(part.get("text"), str) else "text: Expected string"
    if part.get("type") != "image_url":
        return f"content part type {part.get('type')!r} is not supported"
    image_url = part.get("image_url")
    if not isinstance(image_url, dict) or not isinstance(image_url.get("url"), str):
        return "image_url.url: Expected string"
    if "detail" in image_url and image_url["detail"] not in DETAILS:
        return "image_url.detail: Expected one of auto, low, high, original"
    return None


def _parameter_problem(body: dict[str, Any]) -> str | None:
    problem = _provider_problem(body.get("provider", {})) or _models_problem(body)
    if problem:
        return problem
    max_tokens = body.get("max_tokens")
    if not _is_number(max_tokens, integer=True) or max_tokens < 1:
        return "max_tokens: Expected a positive integer"
    temperature = body.get("temperature", 1.0)
    if not _is_number(temperature) or not 0 <= temperature <= 2:
        return "temperature: Expected a number between 0 and 2"
    response_format = body.get("response_format", {"type": "text"})
    if not isinstance(response_format, dict):
        return "response_format: Expected an object"
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            return "response_format.json_schema.name: Expected string"
        if not isinstance(spec.get("schema"), dict):
            return "response_format.json_schema.schema: Expected object"
    elif response_format.get("type") not in {"text", "json_object"}:
        return "response_format.type: Expected text, json_object or json_schema"
    return None


_PROVIDER_LISTS = frozenset({"order", "only", "ignore", "quantizations"})
_PROVIDER_FLAGS = frozenset({"allow_fallbacks", "require_parameters", "zdr"})
_PROVIDER_CHOICES = {
    "data_collection": {"allow", "deny"},
    "sort": {"price", "throughput", "latency"},
}
_PRICE_FIELDS = frozenset({"prompt", "completion", "request", "image"})


def _provider_problem(provider: object) -> str | None:
    """What is wrong with a `provider` object (the documented fields, each of its type)."""
    if not isinstance(provider, dict):
        return "provider: Expected an object"
    for name, value in provider.items():
        if name in _PROVIDER_LISTS:
            valid = isinstance(value, list) and all(isinstance(item, str) for item in value)
        elif name in _PROVIDER_FLAGS:
            valid = isinstance(value, bool)
        elif name in _PROVIDER_CHOICES:
            valid = value in _PROVIDER_CHOICES[name]
        elif name == "max_price":
            valid = isinstance(value, dict) and all(
                key in _PRICE_FIELDS and _is_number(price) and price >= 0
                for key, price in value.items()
            )
        else:
            return f"provider: Unrecognized key '{name}'"
        if not valid:
            return f"provider.{name}: Invalid value"
    return None


def _models_problem(body: dict[str, Any]) -> str | None:
    models = body.get("models")
    if models is None:
        return None
    if not isinstance(models, list) or not models:
        return "models: Expected a non-empty array"
    if not all(isinstance(model, str) and model for model in models):
        return "models: Expected an array of model IDs"
    return None


def _is_number(value: object, *, integer: bool = False) -> bool:
    kinds = int if integer else int | float
    return isinstance(value, kinds) and not isinstance(value, bool)


# --- Default answers ------------------------------------------------------------------------


def describe(images: list[ReceivedImage]) -> str:
    """The default answer: what arrived, so tests can tell the answer came from the image."""
    if not images:
        return "I see no image."
    return " ".join(
        f"I see an image at {image.url}."
        if image.url
        else f"I see a {image.format} image, {image.width}x{image.height} pixels."
        for image in images
    )


def schema_instance(schema: dict[str, Any], text: str) -> Any:
    """A valid instance of a JSON schema (the subset structured outputs use); strings say `text`."""
    return _SchemaInstance(schema, text).of(schema)


# Past this nesting depth optional parts are left out, so recursive schemas end.
_MAX_DEPTH = 3


@dataclass(frozen=True)
class _SchemaInstance:
    root: dict[str, Any]
    text: str

    def of(self, node: dict[str, Any], variant: int = 0, depth: int = 0) -> Any:
        node = self._resolved(node)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][variant % len(node["enum"])]
        for keyword in ("anyOf", "oneOf"):
            if keyword in node:
                options = [self._resolved(option) for option in node[keyword]]
                not_null = [option for option in options if option.get("type") != "null"]
                if depth >= _MAX_DEPTH and len(not_null) < len(options):
                    return None
                return self.of((not_null or options)[0], variant, depth)
        if "allOf" in node:
            merged: dict[str, Any] = {}
            for part in node["allOf"]:
                merged.update(self._resolved(part))
            return self.of(merged, variant, depth)
        return self._typed(node, _type_of(node), variant, depth)

    def _typed(self, node: dict[str, Any], kind: str, variant: int, depth: int) -> Any:
        if kind == "object":
            return self._object(node, variant, depth)
        if kind == "array":
            return self._array(node, variant, depth)
        if kind in {"integer", "number"}:
            return _number(node, variant, integer=kind == "integer")
        if kind == "boolean":
            return variant % 2 == 0
        if kind == "null":
            return None
        return _string(node, self.text, variant)

    def _object(self, node: dict[str, Any], variant: int, depth: int) -> dict[str, Any]:
        properties = node.get("properties", {})
        if depth >= _MAX_DEPTH:
            required = set(node.get("required", ()))
            properties = {name: child for name, child in properties.items() if name in required}
        return {name: self.of(child, variant, depth + 1) for name, child in properties.items()}

    def _array(self, node: dict[str, Any], variant: int, depth: int) -> list[Any]:
        prefix = [self.of(item, variant, depth + 1) for item in node.get("prefixItems", [])]
        count = max(node.get("minItems", 1 if depth < _MAX_DEPTH else 0), len(prefix))
        count = min(count, node.get("maxItems", count))
        items = node.get("items")
        if not isinstance(items, dict):
            return prefix[:count]
        extra = range(count - len(prefix))
        return prefix + [self.of(items, variant + index, depth + 1) for index in extra]

    def _resolved(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.root
            for key in node["$ref"].removeprefix("#/").split("/"):
                if key:
                    target = target[key.replace("~1", "/").replace("~0", "~")]
            node = target
        return node


def _type_of(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if isinstance(kind, list):
        return next((item for item in kind if item != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in node:
        return "object"
    return "array" if "items" in node else "string"


_STRING_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "fake@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def _string(node: dict[str, Any], text: str, variant: int) -> str:
    value = _STRING_FORMATS.get(node.get("format", ""))
    if value is None:
        value = text if variant == 0 else f"{text} ({variant})"
    value = value.ljust(node.get("minLength", 0), ".")
    return value[: node["maxLength"]] if "maxLength" in node else value


def _number(node: dict[str, Any], variant: int, *, integer: bool) -> int | float:
    """Inside the bounds, inclusive or exclusive; `variant` steps up to tell items apart."""
    step = 1 if integer else 0.5
    low = _bound(node, "minimum", "exclusiveMinimum", step)
    high = _bound(node, "maximum", "exclusiveMaximum", -step)
    if low is None:
        low = min(0, high) if high is not None else 0
    if integer:
        low = math.ceil(low)
        high = math.floor(high) if high is not None else None
    elif high is not None and low >= high:  # exclusive bounds closer than the step
        return (node.get("exclusiveMinimum", low) + node.get("exclusiveMaximum", high)) / 2
    value = low + variant * step
    return min(value, high) if high is not None else value


def _bound(node: dict[str, Any], inclusive: str, exclusive: str, step: float) -> float | None:
    candidates = [node[inclusive]] if inclusive in node else []
    if exclusive in node:
        candidates.append(node[exclusive] + step)
    if not candidates:
        return None
    return max(candidates) if step > 0 else min(candidates)


def default_content(body: dict[str, Any], images: list[ReceivedImage]) -> str:
    text = describe(images)
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return json.dumps(schema_instance(response_format["json_schema"]["schema"], text))
    if response_format.get("type") == "json_object":
        return json.dumps({"description": text})
    return text


# --- Answers --------------------------------------------------------------------------------


def _completion(
    reply: Reply, body: dict[str, Any], images: list[ReceivedImage], route: Routing
) -> dict[str, Any]:
    # What the endpoint actually honours: one that ignores a parameter never sees it.
    body = {name: value for name, value in body.items() if not route.drops(name)}
    content = reply.content if reply.content is not None else default_content(body, images)
    max_tokens = body["max_tokens"]
    reasoning_tokens = min(reply.reasoning_tokens, max_tokens)
    completion_tokens = min(max_tokens, max(1, text_tokens(content)) + reasoning_tokens)
    seen = sum(
        image_tokens(route.model.id, image.width or 1024, image.height or 1024, image.detail)
        for image in images
    )
    prompt = prompt_tokens(body, seen)
    cost = reply.cost
    if cost is None:
        cost = route.cost(prompt, completion_tokens, len(images))
    choice: dict[str, Any] = {
        "index": 0,
        "logprobs": None,
        "finish_reason": reply.finish_reason,
        "native_finish_reason": reply.native_finish_reason or reply.finish_reason.upper(),
        "message": {
            "role": "assistant",
            "content": content,
            "refusal": reply.refusal,
            "reasoning": reply.reasoning,
        },
    }
    if reply.choice_error is not None:
        choice["error"] = reply.choice_error
    return {
        "id": f"gen-{int(time.time())}-{secrets.token_urlsafe(15)}",
        "provider": reply.provider or route.endpoint.provider,
        "model": reply.model or route.model.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
            "cost": cost,
            "is_byok": False,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
        },
    }


def _error_payload(failure: Fail) -> dict[str, Any]:
    return {"error": failure.error, "user_id": "user_fake", **failure.extra}


def _failure_response(failure: Fail) -> JSONResponse:
    payload = _error_payload(failure)
    return JSONResponse(payload, status_code=failure.status, headers=failure.headers)


def _keep_alive_then(
    behaviour: KeepAlive, payload: dict[str, Any], headers: dict[str, str]
) -> StreamingResponse:
    async def stream() -> AsyncIterator[bytes]:
        deadline = time.monotonic() + behaviour.seconds
        while time.monotonic() < deadline:
            yield b" "
            await asyncio.sleep(behaviour.interval_s)
        yield json.dumps(payload).encode()

    return StreamingResponse(stream(), headers=headers, media_type="application/json")


# --- The server -----------------------------------------------------------------------------


class FakeOpenRouter:
    """The fake API served by uvicorn on its own thread and event loop; a context manager."""

    def __init__(
        self,
        *,
        api_key: str = FAKE_API_KEY,
        latency_s: float = 0.0,
        port: int = 0,
        record: bool = True,  # off for benchmarks: bodies hold whole images
    ) -> None:
        self.api_key = api_key
        self._recording = record
        self.latency_s = latency_s  # added before every chat-completion answer
        self._initial_latency_s = latency_s
        self._lock = threading.Lock()
        self._script: deque[Behaviour] = deque()
        self._requests: list[RecordedRequest] = []
        self._bills: list[float] = []
        self.models_status = 200  # what GET /models answers; anything but 200 is an outage
        self._socket = socket.create_server(("127.0.0.1", port))
        # Accepted sockets inherit this; without it asyncio leaves Nagle on (the socket's
        # proto is 0) and every answer waits ~40 ms on a delayed ACK.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.base_url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/api/v1"
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._app(),
                http="h11",
                lifespan="off",
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=2,
            )
        )
        self._thread: threading.Thread | None = None

    # Test-facing API
    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours, one per valid chat-completion request; then default answers."""
        with self._lock:
            self._script.extend(behaviours)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request that reached the fake, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def completions(self) -> list[RecordedRequest]:
        """Only the chat-completion requests."""
        return [request for request in self.requests if request.path.endswith("/completions")]

    @property
    def bills(self) -> list[float]:
        """`usage.cost` of every billed answer, in order (lost answers included)."""
        with self._lock:
            return list(self._bills)

    @property
    def billed_usd(self) -> float:
        """What the fake billed in total since the last reset."""
        return sum(self.bills)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._bills.clear()
        self.latency_s = self._initial_latency_s
        self.models_status = 200

    def settings(self, **overrides: Any) -> Settings:
        """Server settings pointing at this fake (ignoring any `.env` file)."""
        values = {"openrouter_api_key": self.api_key, "openrouter_base_url": self.base_url}
        return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]

    # Lifecycle
    def __enter__(self) -> FakeOpenRouter:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake OpenRouter did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def serve_forever(self, on_ready: Callable[[str], None]) -> None:
        """Serve in this thread until SIGINT/SIGTERM; the socket listens before `on_ready`."""
        on_ready(self.base_url)
        self._server.run(sockets=[self._socket])

    # The ASGI app
    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/api/v1/models", self._models, methods=["GET"]),
                Route("/api/v1/key", self._key, methods=["GET"]),
                Route("/api/v1/auth/key", self._key, methods=["GET"]),
            ]
        )

    async def _chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        parts = _image_parts(body)
        images = await anyio.to_thread.run_sync(lambda: [_receive_image(p) for p in parts])
        self._record(request, body, images)
        routed = self._unauthorized(request) or _routed(body, images)
        if isinstance(routed, Response):
            return routed
        behaviour = self._next_behaviour()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return await self._perform(behaviour, request, body, images, routed)

    async def _models(self, request: Request) -> Response:
        self._record(request, None, [])
        if self.models_status != 200:
            status = self.models_status
            return _failure_response(Fail(status, error_body(status, "Service unavailable")))
        return JSONResponse({"data": [model.listing() for model in CATALOGUE]})

    async def _key(self, request: Request) -> Response:
        self._record(request, None, [])
        rejection = self._unauthorized(request)
        if rejection is not None:
            return rejection
        key_info = {
            "label": f"{self.api_key[:12]}...{self.api_key[-3:]}",
            "limit": None,
            "limit_remaining": None,
            "usage": 0.0123,
            "is_free_tier": False,
            "rate_limit": {"requests": -1, "interval": "10s"},
            "free_model_daily_requests": 1000,
        }
        return JSONResponse({"data": key_info})

    def _record(self, request: Request, body: Any, images: list[ReceivedImage]) -> None:
        if not self._recording:
            return
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            images=images,
        )
        with self._lock:
            self._requests.append(recorded)

    def _unauthorized(self, request: Request) -> Response | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            return _failure_response(no_auth_credentials())
        if not secrets.compare_digest(key.strip(), self.api_key):
            return _failure_response(user_not_found())
        return None

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._script.popleft() if self._script else Reply()

    async def _perform(
        self,
        behaviour: Behaviour,
        request: Request,
        body: dict[str, Any],
        images: list[ReceivedImage],
        routed: Routing,
    ) -> Response:
        if isinstance(behaviour, Drop):
            # The model answered and was billed; the answer is lost on the way back.
            self._billed_answer(Reply(), body, images, routed)
            await self._drop_connection(request)
            return Response(status_code=500)  # never sent: the connection is gone
        if isinstance(behaviour, Raw):
            return Response(behaviour.body, behaviour.status, media_type=behaviour.content_type)
        if isinstance(behaviour, KeepAlive):
            # Billed once answered, even when the caller has hung up by then.
            return _keep_alive_then(behaviour, *self._answer(behaviour.then, body, images, routed))
        if isinstance(behaviour, Fail):
            return _failure_response(behaviour)
        payload, headers = self._answer(behaviour, body, images, routed)
        return JSONResponse(payload, headers=headers)

    def _answer(
        self, outcome: Reply | Fail, body: dict[str, Any], images: list[ReceivedImage], to: Routing
    ) -> tuple[dict[str, Any], dict[str, str]]:
        if isinstance(outcome, Fail):
            return _error_payload(outcome), outcome.headers
        payload = self._billed_answer(outcome, body, images, to)
        return payload, {"X-Generation-Id": payload["id"], **outcome.headers}

    def _billed_answer(
        self, reply: Reply, body: dict[str, Any], images: list[ReceivedImage], to: Routing
    ) -> dict[str, Any]:
        payload = _completion(reply, body, images, to)
        with self._lock:
            self._bills.append(payload["usage"]["cost"])
        return payload

    async def _drop_connection(self, request: Request) -> None:
        client = request.scope.get("client")
        for connection in list(self._server.server_state.connections):
            if client is not None and tuple(connection.client or ()) == tuple(client):
                connection.transport.abort()
        # Let the loop run connection_lost so uvicorn knows not to answer.
        for _ in range(3):
            await asyncio.sleep(0)


def _routed(body: Any, images: list[ReceivedImage]) -> Routing | Response:
    """Where a valid request goes, or the 400/404 the real API answers before routing."""
    problem = _shape_problem(body)
    if problem is not None:
        return _failure_response(Fail(400, error_body(400, f"Invalid request: {problem}")))
    image_problem = next((image.problem for image in images if image.problem), None)
    if image_problem is not None:
        return _failure_response(image_error(image_problem))
    routed = route_request(body, has_images=bool(images))
    if isinstance(routed, Routing):
        return routed
    error = error_body(routed.status, routed.message, **(routed.metadata or {}))
    return _failure_response(Fail(routed.status, error))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    parser.add_argument("--api-key", default=FAKE_API_KEY)
    args = parser.parse_args(argv)
    fake = FakeOpenRouter(
        api_key=args.api_key, latency_s=args.latency, port=args.port, record=False
    )
    fake.serve_forever(on_ready=lambda base_url: print(base_url, flush=True))


if __name__ == "__main__":
    main()
