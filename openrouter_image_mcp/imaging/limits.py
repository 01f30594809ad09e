"""The settings image preparation reads, in a form a worker process can be handed.

`Settings` satisfies `PreparationSettings` as it is; worker processes get the plain
`PreparationLimits` instead, so they never import the settings machinery (pydantic) nor
hold a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol


class PreparationSettings(Protocol):
    @property
    def max_pixels(self) -> int: ...

    @property
    def max_image_bytes(self) -> int: ...

    @property
    def jpeg_quality(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PreparationLimits:
    max_pixels: int
    max_image_bytes: int
    jpeg_quality: int

    @classmethod
    def of(cls, settings: PreparationSettings) -> PreparationLimits:
        return cls(settings.max_pixels, settings.max_image_bytes, settings.jpeg_quality)

    def within(self, max_image_bytes: int) -> PreparationLimits:
        """These limits, sending at most `max_image_bytes` (a share of a request's images)."""
        if max_image_bytes >= self.max_image_bytes:
            return self
        return replace(self, max_image_bytes=max_image_bytes)
