"""What makes two tool calls "the same call" for the answer cache and in-flight sharing.

The key hashes the image's bytes as loaded, never its path or URL: an agent that overwrites
screenshot.png gets a fresh answer, and the same picture reached by two routes shares one.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from pydantic import BaseModel

from .. import __version__
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


def answer_key(image: bytes, spec: AnswerSpec, settings: Settings) -> str:
    """A sha256 hex digest naming the answer to `spec` asked about `image`.

    The bytes are hashed before preparation (decode, resize, re-encode): preparation is
    deterministic given the model, the detail and the preparation settings that are part of
    the key too, so a cache hit never has to decode the image at all.
    """
    parts = {
        "format": CACHE_FORMAT,
        "server": __version__,
        "image_sha256": hashlib.sha256(image).hexdigest(),
        "tool": spec.tool,
        "prompt": spec.prompt,
        "model": spec.model,
        "max_tokens": spec.max_tokens,
        "temperature": spec.temperature,
        "detail": spec.detail,
        "output": output_id(spec.output_model),
        "preparation": [settings.max_edge, settings.pixel_budget, settings.jpeg_quality],
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
