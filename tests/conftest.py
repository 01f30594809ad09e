"""Fixtures shared by every test package: one fake OpenRouter for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from openrouter_image_mcp.sources import loader
from tests.fake_openrouter import FakeOpenRouter


@pytest.fixture(scope="session")
def fake_openrouter() -> Iterator[FakeOpenRouter]:
    """The fake OpenRouter server, started once per session."""
    with FakeOpenRouter() as fake:
        yield fake


@pytest.fixture
def fake(fake_openrouter: FakeOpenRouter) -> FakeOpenRouter:
    """The session's fake with an empty script, no recordings and no added latency."""
    fake_openrouter.reset()
    return fake_openrouter


@pytest.fixture
def loaded_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every image_path the server loaded (read, fetched or decoded), in order."""
    seen: list[str] = []
    load = loader.ImageLoader.load

    async def recording(self: loader.ImageLoader, image_path: str) -> Any:
        seen.append(image_path)
        return await load(self, image_path)

    monkeypatch.setattr(loader.ImageLoader, "load", recording)
    return seen
