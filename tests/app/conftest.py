"""Fixtures for the deployment tests: settings with two clients' tokens, a running server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from openrouter_image_mcp.settings import Settings
from tests.app.helpers import TOKENS, serving
from tests.fake_openrouter import FakeOpenRouter


@pytest.fixture
def settings(fake: FakeOpenRouter) -> Settings:
    """HTTP on loopback with two clients' tokens, against the fake OpenRouter."""
    return fake.settings(auth_tokens=TOKENS, shutdown_grace_s=1)


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serving(settings) as url:
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client
