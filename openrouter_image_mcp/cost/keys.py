"""What makes two tool calls "the same call" for the answer cache and in-flight sharing.

The key hashes each image's bytes as loaded, in order, never a path or URL: an agent that
overwrites screenshot.png gets a fresh answer, and the same picture reached by two routes
shares one.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from .. import __version__
from ..openrouter.routing import provider_preferences
from ..settings import Settings

CACHE_FORMAT = 1
"""Bump when the shape of a cached answer changes, so old entries are never read back."""


@dataclass(frozen=True, slots=True)
class AnswerSpec:
    """Everything besides the image that decides the answer, with defaults already applied."""

    tool: str
    prompt: str
    model: str
    max_tokens: int
    temperature: float | None
    detail: str
    output_model: type[BaseModel] | None


def image_digest(image: bytes) -> str:
    """What the key knows of one image: the sha256 of its bytes as loaded."""
    return hashlib.sha256(image).hexdigest()


def answer_key(image_digests: Sequence[str], spec: AnswerSpec, settings: Settings) -> str:
    """A sha256 hex digest naming the answer to `spec` asked about these images, in order
    (`image_digest` of each: image_path's, then each of extra_images').

    The bytes are hashed before preparation (decode, resize, tiles, re-encode): preparation is
    deterministic given the model, the detail and the preparation settings that are part of
    the key too, so a cache hit never has to decode an image at all. So are the routing
    settings: a fallback model may write the answer.
    """
    parts = {
        "format": CACHE_FORMAT,
        "server": __version__,
        "images_sha256": list(image_digests),
        "tool": spec.tool,
        "prompt": spec.prompt,
        "model": spec.model,
        "max_tokens": spec.max_tokens,
        "temperature": spec.temperature,
        "detail": spec.detail,
        "output": output_id(spec.output_model),
        "preparation": [
            settings.max_edge,
            settings.pixel_budget,
            settings.jpeg_quality,
            settings.max_tiles,
            settings.max_image_bytes,
        ],
        "routing": [settings.fallback_models, provider_preferences(settings)],
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@functools.cache
def output_id(output_model: type[BaseModel] | None) -> str | None:
    """The output model's name and a digest of its JSON schema: a changed schema is a new key."""
    if output_model is None:
        return None
    schema = json.dumps(output_model.model_json_schema(), sort_keys=True)
    return f"{output_model.__name__}:{hashlib.sha256(schema.encode()).hexdigest()[:16]}"
