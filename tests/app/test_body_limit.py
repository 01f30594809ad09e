"""The /mcp request-body limit follows the image-size setting, in both directions."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from PIL import Image

from openrouter_image_mcp.settings import Settings
from tests.app.helpers import (
    ALICE_TOKEN,
    INITIALIZE,
    MCP_HEADERS,
    TOKENS,
    auth,
    mcp_client,
    serving,
)
from tests.fake_openrouter import FakeOpenRouter

HEADERS = {**MCP_HEADERS, **auth(ALICE_TOKEN)}


@pytest.fixture
def settings(fake: FakeOpenRouter) -> Settings:
    """A small image limit, so the derived body limit (~1.1 MiB) is quick to exceed."""
    return fake.settings(auth_tokens=TOKENS, max_image_bytes=64 * 1024, shutdown_grace_s=1)


def initialize_padded_to(size: int) -> bytes:
    """A valid initialize request, padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps(INITIALIZE).encode()
    return body + b" " * (size - len(body))


async def test_a_body_at_the_limit_is_served(http: httpx.AsyncClient, settings: Settings) -> None:
    body = initialize_padded_to(settings.effective_max_request_bytes)
    response = await http.post("/mcp", content=body, headers=HEADERS)
    assert response.status_code == 200


async def test_a_body_one_byte_over_the_limit_gets_413(
    http: httpx.AsyncClient, settings: Settings, fake: FakeOpenRouter
) -> None:
    body = initialize_padded_to(settings.effective_max_request_bytes + 1)
    response = await http.post("/mcp", content=body, headers=HEADERS)
    assert response.status_code == 413
    assert fake.completions == []  # no chat request (the model list is fetched at start)


async def test_a_chunked_body_over_the_limit_gets_413(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    chunk = b" " * 65536
    chunks = settings.effective_max_request_bytes // len(chunk) + 2

    async def stream() -> AsyncIterator[bytes]:
        yield json.dumps(INITIALIZE).encode()
        for _ in range(chunks):
            yield chunk

    response = await http.post("/mcp", content=stream(), headers=HEADERS)
    assert response.status_code == 413


def noise_png(min_bytes: int) -> bytes:
    """An incompressible PNG of at least `min_bytes`."""
    side = int((min_bytes / 3) ** 0.5) + 1
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        buffer, "PNG", compress_level=0
    )
    return buffer.getvalue()


async def test_a_5_mb_inline_image_passes_the_sdk_default_limit(fake: FakeOpenRouter) -> None:
    png = noise_png(5_000_000)
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    assert len(data_url) > DEFAULT_MAX_REQUEST_BODY_SIZE  # would be refused without the raise
    settings = fake.settings(auth_tokens=TOKENS, shutdown_grace_s=1)  # 20 MiB images
    async with serving(settings) as url, mcp_client(url) as client:
        result = await client.call_tool(
            "analyze_image", {"image_path": data_url}, raise_on_error=False
        )
    assert not result.is_error, result.content
    assert result.meta["image"]["received"]["bytes"] == len(png)
    assert len(fake.completions) == 1
