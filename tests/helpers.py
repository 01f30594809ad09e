"""Small builders shared by the end-to-end tests: images, clients and result accessors."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastmcp import Client
from fastmcp.client.client import CallToolResult
from PIL import Image

from openrouter_image_mcp.server import build_server
from openrouter_image_mcp.settings import Settings


def png_bytes(width: int = 64, height: int = 48, color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"


@asynccontextmanager
async def in_memory_client(settings: Settings, **client_kwargs: Any) -> AsyncIterator[Client]:
    async with Client(build_server(settings), **client_kwargs) as client:
        yield client


async def call(client: Client, tool: str = "analyze_image", **arguments: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments, raise_on_error=False)


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def error_code(result: CallToolResult) -> str | None:
    if not result.is_error:
        return None
    return (result.structured_content or {}).get("error", {}).get("code")
