"""The most one upstream request can cost: what a reservation holds before it is sent.

    worst case = prompt-token bound x prompt price + max_tokens x completion price
                 + per-request price + per-image price x images

over every candidate model (a request that may be served by fallback models is priced at the
dearest of them). It is an upper bound by construction, from the providers' own rules:

- Text: every UTF-8 byte of the request except its images (the JSON of its messages and
  response format, a superset of the text a model reads) counts as one token. Byte-level BPE
  and byte-fallback tokenizers never make a token of less than one byte. Plus
  TOKENS_PER_MESSAGE per message and TOKENS_PER_REQUEST for role and framing tokens.
- Images: the family's published rule (imaging/tokens.py) on the size actually sent, times
  the largest published per-model multiplier (OpenAI's patch models bill up to 2.46x their
  patches), times IMAGE_TOKEN_MARGIN (25%), plus IMAGE_FRAMING_TOKENS. A family without a
  published rule is counted at one token per 14x14 px, the densest rule any provider uses.
- Completion: max_tokens, reasoning included (it counts against max_tokens), at the larger of
  the completion and reasoning prices (see catalog.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..imaging import Family, estimate_image_tokens
from ..openrouter import ChatRequest
from ..openrouter.catalog import ModelPricing

TOKENS_PER_MESSAGE = 8
TOKENS_PER_REQUEST = 16
IMAGE_TOKEN_MARGIN = 1.25
IMAGE_FRAMING_TOKENS = 16
OPENAI_PATCH_MULTIPLIER = 2.46
UNKNOWN_FAMILY_PIXELS_PER_TOKEN = 14 * 14

ImageSize = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model a request may be served by: how it counts image tokens, and its prices."""

    family: str  # an imaging Family
    pricing: ModelPricing


@dataclass(frozen=True, slots=True)
class RequestSize:
    """What a request's cost depends on, besides the model."""

    text_bytes: int
    messages: int
    images: tuple[ImageSize, ...]
    max_tokens: int

    @classmethod
    def of(cls, request: ChatRequest, image_sizes: Sequence[ImageSize]) -> RequestSize:
        """`image_sizes`: the size of each image in the request as sent, in order."""
        found: list[str] = []
        body = _without_images(request.as_body(), found)
        if len(found) != len(image_sizes):
            raise ValueError(f"{len(found)} images in the request, {len(image_sizes)} sizes")
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return cls(
            text_bytes=len(text.encode()),
            messages=len(request.messages),
            images=tuple(image_sizes),
            max_tokens=request.max_tokens,
        )


def worst_case_usd(size: RequestSize, candidates: Sequence[Candidate]) -> float:
    """The most `size` can cost on any of `candidates`."""
    return max(_worst_case_on(size, candidate) for candidate in candidates)


def completion_floor_usd(max_tokens: int, images: int, candidates: Sequence[Candidate]) -> float:
    """A lower bound of the worst case, known before the image is: the answer alone."""
    return max(
        max_tokens * c.pricing.completion + c.pricing.request + images * c.pricing.image
        for c in candidates
    )


def _worst_case_on(size: RequestSize, candidate: Candidate) -> float:
    pricing = candidate.pricing
    prompt_tokens = (
        size.text_bytes
        + TOKENS_PER_MESSAGE * size.messages
        + TOKENS_PER_REQUEST
        + sum(image_token_bound(w, h, candidate.family) for w, h in size.images)
    )
    return (
        prompt_tokens * pricing.prompt
        + size.max_tokens * pricing.completion
        + pricing.request
        + len(size.images) * pricing.image
    )


def image_token_bound(width: int, height: int, family: str) -> int:
    """At least as many tokens as any model of `family` bills for this image."""
    if family == Family.DEFAULT:
        tokens = width * height / UNKNOWN_FAMILY_PIXELS_PER_TOKEN
    else:
        tokens = estimate_image_tokens(width, height, family)
        if family == Family.OPENAI_PATCH:
            tokens *= OPENAI_PATCH_MULTIPLIER
    return math.ceil(tokens * IMAGE_TOKEN_MARGIN) + IMAGE_FRAMING_TOKENS


def _without_images(node: Any, found: list[str]) -> Any:
    """`node` with each image part's URL taken out (and collected in `found`)."""
    if isinstance(node, list):
        return [_without_images(item, found) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "image_url" and isinstance(node.get("image_url"), dict):
        found.append(node["image_url"].get("url", ""))
        return {**node, "image_url": {**node["image_url"], "url": ""}}
    return {key: _without_images(value, found) for key, value in node.items()}
