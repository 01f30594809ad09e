"""What size each vision model actually looks at, so nothing larger is ever sent.

Sending more pixels than a model uses costs bandwidth, latency and often tokens, and buys
nothing: the provider shrinks the image again before the model sees it. Model ids are matched
on their name (the part after `vendor/`, lowercased, without a `:variant` suffix), first rule
first:

| family           | model names starting with               | auto (and high) target         |
|------------------|-----------------------------------------|--------------------------------|
| openai-patch     | gpt-4.1-mini/nano, gpt-5*-mini/nano,    | 32 px patches, <= 1536 patches |
|                  | o4-mini                                 |                                |
| openai-tile      | gpt-4o*, gpt-4.1, gpt-4.5, gpt-5,       | fit 2048x2048, then short side |
|                  | gpt-5.x, o1, o3, other gpt-/chatgpt-/oN | <= 768 px                      |
| claude           | claude-*                                | 1568 px and 1.15 MP (high on   |
|                  |                                         | >= 4.7: 2576 px and 3.75 MP)   |
| gemini-2         | gemini-1.x, gemini-2.x                  | 2048 px (high: 3072 px)        |
| gemini-3         | any later gemini-*                      | 2048 px                        |
| qwen2.5-vl       | qwen2-vl, qwen2.5-vl, qwen-vl-*         | 28 px patches, 2048 (4096)     |
| qwen3-vl         | qwen3*                                  | 32 px patches, 2048 (4096)     |
| llama-3.2-vision | llama-3.2-*b-vision                     | 1120 px                        |
| default          | anything else                           | 2048 px and 4 MP               |

Why these numbers (OpenAI's, Anthropic's and Google's published image rules):
- OpenAI tile models bill and see 512 px tiles of the image scaled into 2048x2048 and then to
  a 768 px short side; `detail` high is that same rule. OpenAI's own table puts gpt-5 and the
  gpt-5.x flagships here (70 + 140 tokens a tile) and the mini/nano models on patches.
- OpenAI patch models see ceil(w/32) * ceil(h/32) patches and shrink anything over 1536.
  Patch targets also cap the long edge at 8192 px, for extreme strips.
- Claude shrinks anything over 1568 px or about 1600 tokens (w*h/750); Anthropic recommends
  <= 1.15 MP. Claude Opus 4.7 reads up to 2576 px (about 3.75 MP). Assumption: every Claude
  model from 4.7 on has that tier; it is used only for detail="high", because the standard tier
  costs about a third of the tokens.
- Gemini 2.x bills 258 tokens per 768 px tile and itself scales anything past 3072 px down.
  2048 px (at most 6 tiles for 4:3) keeps 11 px UI text of a 2560 px wide screen >= 8 px; high
  goes to Gemini's own 3072 px cap.
- Gemini 3.x bills a fixed budget per image, so size only costs bandwidth: 2048 px is plenty.
- Qwen-VL spends one token per 28 px (2.5) or 32 px (3) square; its processors allow up to
  16384 tokens, which providers bill. 2048 tokens keeps a 1080p screenshot whole on Qwen3;
  high doubles the budget.
- Llama 3.2 Vision sees at most four 560 px tiles (1120 px).
- detail="low" is 512 px long edge for every family (OpenAI's low-detail size).
Deployment caps (IMAGE_MCP_MAX_EDGE, IMAGE_MCP_PIXEL_BUDGET) tighten every target further.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..settings import Settings

Detail = Literal["auto", "low", "high"]

_LOW_DETAIL_EDGE = 512
# A patch budget alone lets a 30000x10 strip through whole; no upstream wants that, and WebP
# cannot encode a side over 16383 px.
_PATCH_MAX_EDGE = 8192


class Family(StrEnum):
    """How a group of models sizes and bills images."""

    OPENAI_TILE = "openai-tile"
    OPENAI_PATCH = "openai-patch"
    CLAUDE = "claude"
    GEMINI_2 = "gemini-2"
    GEMINI_3 = "gemini-3"
    QWEN_2_5 = "qwen2.5-vl"
    QWEN_3 = "qwen3-vl"
    LLAMA_3_2 = "llama-3.2-vision"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class SizeTarget:
    """The largest image worth sending to one family; every bound that is set applies."""

    family: str
    max_edge: int | None
    max_pixels: int | None
    max_short_edge: int | None = None
    patch_size: int | None = None
    max_patches: int | None = None

    def fits(self, width: int, height: int) -> bool:
        """Whether an image of this size needs no shrinking for this target."""
        long_edge, short_edge = max(width, height), min(width, height)
        return (
            _within(long_edge, self.max_edge)
            and _within(short_edge, self.max_short_edge)
            and _within(width * height, self.max_pixels)
            and _within(self._patches(width, height), self.max_patches)
        )

    def fitted_size(self, width: int, height: int) -> tuple[int, int]:
        """The largest size within every bound with the same aspect ratio; never larger."""
        if self.fits(width, height):
            return width, height
        long_edge, short_edge = max(width, height), min(width, height)

        def oriented(new_long: int, new_short: int) -> tuple[int, int]:
            return (new_long, new_short) if width >= height else (new_short, new_long)

        def fits_at(new_long: int) -> bool:
            # The exact short side, rounded up: rounding down could hide a 1 px overshoot
            # that costs a whole extra tile or row of patches.
            exact_short = short_edge * new_long / long_edge
            return self.fits(*oriented(new_long, max(1, math.ceil(exact_short))))

        # Every bound grows with the long edge, so the largest fitting one is a binary search.
        low, high = 1, long_edge
        while low < high:
            middle = (low + high + 1) // 2
            if fits_at(middle):
                low = middle
            else:
                high = middle - 1
        return oriented(low, max(1, round(short_edge * low / long_edge)))

    def capped(self, max_edge: int | None, max_pixels: int | None) -> SizeTarget:
        """This target with a deployment's own limits applied on top."""
        return replace(
            self,
            max_edge=_smaller(self.max_edge, max_edge),
            max_pixels=_smaller(self.max_pixels, max_pixels),
        )

    def _patches(self, width: int, height: int) -> int:
        if self.patch_size is None:
            return 0
        return math.ceil(width / self.patch_size) * math.ceil(height / self.patch_size)


@dataclass(frozen=True, slots=True)
class _Profile:
    standard: SizeTarget
    high: SizeTarget


def _profile(standard: SizeTarget, high: SizeTarget | None = None) -> _Profile:
    return _Profile(standard, high or standard)


def _patch_target(family: Family, patch_size: int, max_patches: int) -> SizeTarget:
    return SizeTarget(family, _PATCH_MAX_EDGE, None, patch_size=patch_size, max_patches=max_patches)


_CLAUDE_STANDARD = SizeTarget(Family.CLAUDE, max_edge=1568, max_pixels=1_150_000)
_CLAUDE_HIGH_RES = SizeTarget(Family.CLAUDE, max_edge=2576, max_pixels=3_750_000)
_CLAUDE_HIGH_RES_SINCE = (4, 7)
_CLAUDE_VERSION = re.compile(r"^claude-(?:opus|sonnet|haiku)-(\d+)(?:[.-](\d{1,2})(?!\d))?")

_RULES: tuple[tuple[re.Pattern[str], _Profile], ...] = (
    (
        re.compile(r"^(gpt-4\.1-(mini|nano)|gpt-5[\w.-]*-(mini|nano)|o4-mini)"),
        _profile(_patch_target(Family.OPENAI_PATCH, 32, 1536)),
    ),
    (
        re.compile(r"^(gpt-|chatgpt-|o\d)"),
        _profile(SizeTarget(Family.OPENAI_TILE, 2048, None, max_short_edge=768)),
    ),
    (re.compile(r"^claude-"), _profile(_CLAUDE_STANDARD)),
    (
        re.compile(r"^gemini-[12][.-]"),
        _profile(SizeTarget(Family.GEMINI_2, 2048, None), SizeTarget(Family.GEMINI_2, 3072, None)),
    ),
    (re.compile(r"^gemini-"), _profile(SizeTarget(Family.GEMINI_3, 2048, None))),
    (
        re.compile(r"^(qwen-?2(\.5)?-?vl|qwen-vl-)"),
        _profile(
            _patch_target(Family.QWEN_2_5, 28, 2048), _patch_target(Family.QWEN_2_5, 28, 4096)
        ),
    ),
    (
        re.compile(r"^qwen3"),
        _profile(_patch_target(Family.QWEN_3, 32, 2048), _patch_target(Family.QWEN_3, 32, 4096)),
    ),
    (
        re.compile(r"^llama-3\.2-\d+b-vision"),
        _profile(SizeTarget(Family.LLAMA_3_2, 1120, None)),
    ),
)
_DEFAULT = _profile(SizeTarget(Family.DEFAULT, 2048, 4_000_000))


def target_for_model(model: str, detail: Detail, settings: Settings) -> SizeTarget:
    """The size to send `model` at this detail level, within the deployment's caps."""
    name = _model_name(model)
    profile = _profile_for(name)
    if detail == "low":
        target = SizeTarget(profile.standard.family, _LOW_DETAIL_EDGE, None)
    elif detail == "high":
        target = _CLAUDE_HIGH_RES if _claude_has_high_res(name) else profile.high
    else:
        target = profile.standard
    return target.capped(settings.max_edge, settings.pixel_budget)


def _model_name(model: str) -> str:
    """`~Vendor/Name:variant` -> `name`: the part of an OpenRouter id that names the model."""
    without_variant = model.strip().lower().lstrip("~").split(":", 1)[0]
    return without_variant.rsplit("/", 1)[-1]


def _profile_for(name: str) -> _Profile:
    for pattern, profile in _RULES:
        if pattern.match(name):
            return profile
    return _DEFAULT


def _claude_has_high_res(name: str) -> bool:
    match = _CLAUDE_VERSION.match(name)
    if match is None:
        return False
    version = (int(match[1]), int(match[2] or 0))
    return version >= _CLAUDE_HIGH_RES_SINCE


def _within(value: int, bound: int | None) -> bool:
    return bound is None or value <= bound


def _smaller(first: int | None, second: int | None) -> int | None:
    if first is None or second is None:
        return first if second is None else second
    return min(first, second)
