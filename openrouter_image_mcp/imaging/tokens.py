"""How many input tokens a model family bills for an image of a given size.

Used by the benchmark and the docs to show what resizing saves; the upstream's reported usage
stays the truth for billing. The rules are the providers' published ones:

- openai-tile: the image is scaled into 2048x2048, then to a 768 px short side; 85 tokens plus
  170 per 512 px tile (GPT-4o / GPT-4.1 figures; GPT-5 uses 70 + 140, o1/o3 75 + 150).
  Assumes detail high/auto: detail low is a flat 85.
- openai-patch: one token per 32 px patch, at most 1536, before OpenAI's per-model multiplier
  (1.62 for gpt-5-mini and gpt-4.1-mini, 2.46 for the nano models, 1.72 for o4-mini).
- claude: width * height / 750.
- gemini-2: 258 when both sides are <= 384 px, else 258 per 768 px tile.
- gemini-3: a fixed 1120 per image. Assumption: Gemini 3's default media resolution for images
  ("high"); the real figure depends on that request setting, not on the image.
- qwen2.5-vl / qwen3-vl: one token per 28 px / 32 px square (sides rounded to whole squares).
- llama-3.2-vision: 1601 tokens (40x40 patches of 14 px plus one) per 560 px tile, at most 4.
- default: Claude's w*h/750, a middle-of-the-road figure for models without a published rule.
"""

from __future__ import annotations

import math

from .targets import Family, SizeTarget

_OPENAI_TILE_VIEW = SizeTarget(Family.OPENAI_TILE, 2048, None, max_short_edge=768)
_OPENAI_PATCH_CAP = 1536
_GEMINI_3_FIXED = 1120
_LLAMA_TOKENS_PER_TILE = 1601
_PIXELS_PER_TOKEN_BY_AREA = 750


def estimate_image_tokens(width: int, height: int, family: str) -> int:
    """Tokens `family` bills for a `width` x `height` image; ValueError for unknown families."""
    match Family(family):
        case Family.OPENAI_TILE:
            view_width, view_height = _OPENAI_TILE_VIEW.fitted_size(width, height)
            return 85 + 170 * _tiles(view_width, view_height, 512)
        case Family.OPENAI_PATCH:
            return min(_tiles(width, height, 32), _OPENAI_PATCH_CAP)
        case Family.GEMINI_2:
            return 258 if max(width, height) <= 384 else 258 * _tiles(width, height, 768)
        case Family.GEMINI_3:
            return _GEMINI_3_FIXED
        case Family.QWEN_2_5:
            return _squares(width, 28) * _squares(height, 28)
        case Family.QWEN_3:
            return _squares(width, 32) * _squares(height, 32)
        case Family.LLAMA_3_2:
            return _LLAMA_TOKENS_PER_TILE * min(4, _tiles(width, height, 560))
        case Family.CLAUDE | Family.DEFAULT:
            return math.ceil(width * height / _PIXELS_PER_TOKEN_BY_AREA)


def _tiles(width: int, height: int, tile: int) -> int:
    return math.ceil(width / tile) * math.ceil(height / tile)


def _squares(length: int, square: int) -> int:
    return max(1, round(length / square))
