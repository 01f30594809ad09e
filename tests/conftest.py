"""Fixtures shared by every test package: one fake OpenRouter for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
