"""Normalising images before they reach OpenRouter: safe decoding, model-aware sizing,
content-aware encoding.

`target_for_model` says how large an image the chosen model can use, and `tile_policy` when a
tall or wide screenshot goes as tiles instead (tiles.py); `ImageWorkers` (workers.py) prepares
received bytes for them in worker processes, each job under a deadline.
`prepare_image` is the same work done synchronously in the calling process: the workers run
it, and so do tests. Only code that decodes imports Pillow, so the server process never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .facts import ImageFacts, ImageParts, PreparedImage
from .targets import Detail, Family, SizeTarget, target_for_model
from .tiles import TilePolicy, Tiling, tile_policy
from .tokens import estimate_image_tokens

if TYPE_CHECKING:
    from .normalize import prepare_image

__all__ = [
    "Detail",
    "Family",
    "ImageFacts",
    "ImageParts",
    "PreparedImage",
    "SizeTarget",
    "TilePolicy",
    "Tiling",
    "estimate_image_tokens",
    "prepare_image",
    "target_for_model",
    "tile_policy",
]


def __getattr__(name: str) -> object:
    if name == "prepare_image":
        from .normalize import prepare_image

        return prepare_image
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
