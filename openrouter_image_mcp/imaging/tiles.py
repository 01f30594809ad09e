"""Cutting tall and wide screenshots into overlapping tiles a model can read.

Shrunk whole to a model's size, a full-page screenshot of 1280x9000 is sent at 291x2048 (to a
2048 px model): its 14 px text ends up 3 px high, and the model answers about text it could
not read. Cut into a few overlapping tiles, each sent at a legible scale, the same page reads
like an ordinary screenshot. The rule, decided from the header before any decoding:

- Only screenshots, text and drawings are tiled, never photographs (classify.py decides, on
  the decoded picture), and only elongated ones: the long side at least ELONGATED_ASPECT (2.5)
  times the short side. No display has that shape (phones are about 2.2:1, the widest
  monitors 3.6:1 and count as wide), so ordinary screenshots, 2560x1600 or 4K, never are.
- Only when the whole image would be sent below LEGIBLE_SCALE, the scale at which 14 px text
  (common small text on web pages and apps) stays 9 px high. Measured with tesseract (the
  tests' OCR helper, tests/ocr.py) on the 14 px text of a generated page (tests/pages.py)
  shrunk by area averaging, words read in order: all at scale 0.8, 96% at 0.7, 92% at 9/14,
  91% at 0.6, 84% at 0.5, under 1% at 0.4 and none at 0.23, the scale of a 1280x9000 page
  sent whole to a 2048 px model. As 3 tiles at 9/14 that page reads 94%; as 4 full-resolution
  tiles (detail "high"), all of it. (The bench's 2560x1600 screenshot keeps its 11 px text
  at 8.8 px, scale 0.8, and 95% of its words.)
- Tiles span the whole short side and cut the long side in reading order (top to bottom, or
  left to right); neighbours overlap by OVERLAP_SHARE (6%) of a tile's length, several lines
  of text, so a line cut at one tile's edge is whole in the next.
- Each tile is as long as the model's size rule allows at the policy's scale: LEGIBLE_SCALE
  for detail "auto", full resolution (1.0) for "high", which takes more tiles. A model that
  cannot take the whole short side at that scale (OpenAI's 768 px short side) gets tiles at
  the largest scale the short side allows.
- At most `max_tiles` tiles (IMAGE_MCP_MAX_TILES, 6; twice that for detail "high"): a page
  that needs more is cut into that many longer tiles, sent below the policy's scale, and
  `scaled_down` says so. detail "low" never tiles.

Every tile is then encoded like any other image (encode.py), with an equal share of the
image's byte budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from .targets import Detail, SizeTarget

if TYPE_CHECKING:
    from ..settings import Settings

ELONGATED_ASPECT = 2.5
LEGIBLE_SCALE = 9 / 14
FULL_SCALE = 1.0
OVERLAP_SHARE = 0.06
HIGH_DETAIL_TILE_FACTOR = 2
_SCALE_STEPS = 40  # binary-search steps for a scale: far finer than a pixel

Box = tuple[int, int, int, int]
Order = Literal["top to bottom", "left to right"]


@dataclass(frozen=True, slots=True)
class TilePolicy:
    """When and how finely a call's images may be tiled: what the server asks a worker for."""

    scale: float  # the scale tiles are cut at, where the model's size rule allows it
    max_tiles: int

    def plan(self, width: int, height: int, target: SizeTarget) -> TilePlan | None:
        """How to tile an upright `width` x `height` screenshot for `target`; None: send it
        whole (not elongated, legible whole, or tiles would be no larger)."""
        shape = _Shape(width, height, target)
        whole = shape.whole_scale()
        if shape.long < ELONGATED_ASPECT * shape.short or whole >= LEGIBLE_SCALE:
            return None
        scale = min(self.scale, shape.widest_scale())
        if scale <= whole:
            return None
        scaled_down = shape.tiles_at(scale) > self.max_tiles
        if scaled_down:
            scale = _largest(whole, scale, lambda s: shape.tiles_at(s) <= self.max_tiles)
        count = shape.tiles_at(scale)
        if count < 2:
            return None
        length = shape.tile_length(scale)
        overlap = _overlap(length)
        return TilePlan(
            long_edge=max(1, round(shape.long * scale)),
            count=count,
            overlap=overlap,
            vertical=height > width,
            scaled_down=scaled_down,
        )


@dataclass(frozen=True, slots=True)
class TilePlan:
    """A tiling decided from the header: the whole image is shrunk to `long_edge`, then cut."""

    long_edge: int  # of the whole image, shrunk for cutting
    count: int
    overlap: int  # least overlap of neighbouring tiles, in px of the shrunk image
    vertical: bool  # tall: cut top to bottom; wide: left to right
    scaled_down: bool

    def whole_target(self, family: str) -> SizeTarget:
        """The size to shrink the whole image to before cutting it."""
        return SizeTarget(family, max_edge=self.long_edge, max_pixels=None)

    def boxes(self, width: int, height: int) -> list[Box]:
        """The tiles of the shrunk image (`width` x `height`), in reading order, equally long
        and evenly spread, neighbours overlapping by at least `overlap`."""
        long, short = (height, width) if self.vertical else (width, height)
        length = min(long, math.ceil((long + (self.count - 1) * self.overlap) / self.count))
        starts = [round(k * (long - length) / (self.count - 1)) for k in range(self.count)]
        if self.vertical:
            return [(0, start, short, start + length) for start in starts]
        return [(start, 0, start + length, short) for start in starts]

    def facts(self, width: int, height: int, received_long: int) -> Tiling:
        """What `_meta` reports about tiles cut from the shrunk `width` x `height` image."""
        boxes = self.boxes(width, height)
        axis = 1 if self.vertical else 0
        overlap = min(earlier[axis + 2] - later[axis] for earlier, later in pairwise(boxes))
        return Tiling(
            count=self.count,
            width=width,
            height=height,
            scale=round(max(width, height) / received_long, 3),
            overlap_px=overlap,
            order="top to bottom" if self.vertical else "left to right",
            scaled_down=self.scaled_down,
        )


@dataclass(frozen=True, slots=True)
class Tiling:
    """How an image was sent as tiles: `count` of them, cut from the whole image shrunk to
    `width` x `height` (`scale` of what was received), in `order`, neighbours overlapping by
    `overlap_px`; `scaled_down` when IMAGE_MCP_MAX_TILES made the tiles smaller than legible."""

    count: int
    width: int
    height: int
    scale: float
    overlap_px: int
    order: Order
    scaled_down: bool = False


def tile_policy(detail: Detail, settings: Settings) -> TilePolicy | None:
    """How a call at `detail` may tile its images; None: never (detail "low")."""
    if detail == "low" or settings.max_tiles < 2:
        return None
    if detail == "high":
        return TilePolicy(FULL_SCALE, HIGH_DETAIL_TILE_FACTOR * settings.max_tiles)
    return TilePolicy(LEGIBLE_SCALE, settings.max_tiles)


@dataclass(frozen=True, slots=True)
class _Shape:
    """An upright image's sides as tiling sees them, against one target."""

    width: int
    height: int
    target: SizeTarget

    @property
    def long(self) -> int:
        return max(self.width, self.height)

    @property
    def short(self) -> int:
        return min(self.width, self.height)

    def whole_scale(self) -> float:
        return max(self.target.fitted_size(self.width, self.height)) / self.long

    def widest_scale(self) -> float:
        """The largest scale at which the target takes the whole short side (as a square)."""
        return self.target.fitted_size(self.short, self.short)[0] / self.short

    def tile_length(self, scale: float) -> int:
        """The longest tile, in scaled px, the target takes with the short side at `scale`."""
        short = math.ceil(self.short * scale)
        low, high = 1, max(1, math.ceil(self.long * scale))
        while low < high:
            middle = (low + high + 1) // 2
            if self.target.fits(*self._oriented(middle, short)):
                low = middle
            else:
                high = middle - 1
        return low

    def tiles_at(self, scale: float) -> int:
        """How many overlapping tiles cover the image shrunk to `scale`."""
        long = max(1, round(self.long * scale))
        length = self.tile_length(scale)
        if long <= length:
            return 1
        overlap = _overlap(length)
        return math.ceil((long - overlap) / (length - overlap))

    def _oriented(self, along: int, across: int) -> tuple[int, int]:
        return (across, along) if self.height > self.width else (along, across)


def _overlap(length: int) -> int:
    return min(round(OVERLAP_SHARE * length), length // 2)


def _largest(low: float, high: float, good: Callable[[float], bool]) -> float:
    """The largest scale in [low, high] that is `good`, given `low` is and goodness only
    shrinks as the scale grows."""
    for _ in range(_SCALE_STEPS):
        middle = (low + high) / 2
        if good(middle):
            low = middle
        else:
            high = middle
    return low
