"""Normalising images before they reach OpenRouter: safe decoding, model-aware sizing,
content-aware encoding.

`target_for_model` says how large an image the chosen model can use; `prepare_image` turns the
received bytes into a data URL of at most that size (synchronous: run it in a worker thread).
"""

from .facts import ImageFacts, PreparedImage
from .normalize import prepare_image
from .targets import Detail, Family, SizeTarget, target_for_model
from .tokens import estimate_image_tokens

__all__ = [
    "Detail",
    "Family",
    "ImageFacts",
    "PreparedImage",
    "SizeTarget",
    "estimate_image_tokens",
    "prepare_image",
    "target_for_model",
]
