"""Fixtures for the OpenRouter client tests: clients wired to the fake, and a test image."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from PIL import Image

from openrouter_image_mcp.openrouter import Backoff, ChatRequest, OpenRouterClient, image_message
from tests.fake_openrouter import FakeOpenRouter

# Retries in tests wait microseconds; how long production waits is tested in test_backoff.
INSTANT_BACKOFF = Backoff(base_s=0.001, cap_s=0.002)
MODEL = "google/gemini-2.5-flash"


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_request(**changes: Any) -> ChatRequest:
    """A 64x48 PNG with a short prompt; keyword arguments replace ChatRequest fields."""
    fields: dict[str, Any] = {
        "model": MODEL,
        "messages": [image_message("Describe this image.", data_url(png_bytes()), "high")],
        "max_tokens": 300,
    }
    return ChatRequest(**{**fields, **changes})


@pytest.fixture
async def make_client(fake: FakeOpenRouter) -> AsyncIterator[Callable[..., OpenRouterClient]]:
    """Build clients for the fake from settings overrides; all are closed after the test."""
    clients: list[OpenRouterClient] = []

    def build(**overrides: Any) -> OpenRouterClient:
        client = OpenRouterClient(fake.settings(**overrides), backoff=INSTANT_BACKOFF)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()
