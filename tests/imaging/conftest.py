"""Settings for imaging tests: defaults, never read from the environment or a .env file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from openrouter_image_mcp.settings import MIB, Settings

MakeSettings = Callable[..., Settings]

_NEUTRAL = {
    "transport": "stdio",
    "max_edge": None,
    "pixel_budget": None,
    "max_pixels": 50_000_000,
    "max_image_bytes": 20 * MIB,
    "jpeg_quality": 85,
}


@pytest.fixture
def make_settings() -> MakeSettings:
    def make(**overrides: Any) -> Settings:
        return Settings(_env_file=None, **{**_NEUTRAL, **overrides})  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()
