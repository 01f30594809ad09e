"""Helpers for the cost-control tests: servers to call, test images, reading results."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastmcp import Client
from fastmcp.client.client import CallToolResult
from fastmcp.utilities.tests import ASGIServer, asgi_server
from PIL import Image

from openrouter_image_mcp.cost import add_usage_route
from openrouter_image_mcp.server import build_server
from openrouter_image_mcp.settings import Settings

GENERAL = "analyze_image"
ALICE_TOKEN = "alice-secret-" + "a1" * 16
BOB_TOKEN = "bob-secret-" + "b2" * 16
TOKENS = f"alice:{ALICE_TOKEN},bob:{BOB_TOKEN}"

# For budget tests: what the fake is scripted to bill per call, and a budget that holds
# exactly three such calls. Each call first holds its worst case, about $0.0055 with the
# default model and max_tokens (2048 completion tokens at $2.50/M, plus the prompt): the third
# call fits (2 x 0.004 + worst <= 0.0154) and the fourth does not (3 x 0.004 + worst > 0.0154)
# for any worst case between $0.0034 and $0.0074.
CALL_COST = 0.004
THREE_CALLS_BUDGET = 0.0154

MakeSettings = Callable[..., Settings]
MakeImage = Callable[..., str]


def png_bytes(seed: int = 0) -> bytes:
    """A small PNG whose pixels depend on `seed`: distinct seeds, distinct bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (seed % 256, seed // 256 % 256, 99)).save(buffer, "PNG")
    return buffer.getvalue()


def png_data_url(seed: int = 0) -> str:
    """An inline image, for HTTP calls (where file paths are off)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(seed)).decode()


@asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[Client]:
    """A fresh server (its own runtime and state) with an in-memory client."""
    async with Client(build_server(settings)) as client:
        yield client


@asynccontextmanager
async def served_over_http(settings: Settings) -> AsyncIterator[ASGIServer]:
    """The server's real HTTP stack (bearer auth included) with /usage, in this process."""
    mcp = build_server(settings)
    add_usage_route(mcp)
    async with asgi_server(mcp) as server:
        yield server


async def analyze(client: Client, image_path: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool(
        GENERAL, {"image_path": image_path, **arguments}, raise_on_error=False
    )


def error_of(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, result.content
    return result.structured_content["error"]


def cache_status(result: CallToolResult) -> str:
    assert not result.is_error, result.content
    return result.meta["cache"]
