"""Percentiles of a list of measurements, as the report prints them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spread:
    count: int
    p50: float
    p95: float
    max: float


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: a value that was actually measured, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def spread(values: Sequence[float]) -> Spread | None:
    """p50/p95/max rounded to 0.1, or None when nothing was measured."""
    if not values:
        return None
    return Spread(
        count=len(values),
        p50=round(percentile(values, 0.5), 1),
        p95=round(percentile(values, 0.95), 1),
        max=round(max(values), 1),
    )
