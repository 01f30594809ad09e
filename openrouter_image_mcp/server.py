"""The FastMCP server: its tools and the runtime it opens and closes with its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.lifespan import lifespan

from . import __version__
from .arguments import ArgumentGuard
from .auth import build_verifier
from .runtime import open_runtime
from .settings import Settings
from .tools import register_tools

INSTRUCTIONS = (
    "Image analysis through OpenRouter vision models. analyze_image answers a question about "
    "any image; analyze_webpage_screenshot and analyze_mobile_app_screenshot return structured "
    "reviews. Pass an image as a URL, a data URL, base64, or a path the server may read. "
    "Failures come back as errors with a stable code in structuredContent.error.code."
)


def build_server(settings: Settings) -> FastMCP:
    @lifespan
    async def runtime_lifespan(server: FastMCP) -> AsyncIterator[dict[str, Any]]:
        async with open_runtime(settings) as runtime:
            yield {"runtime": runtime}

    mcp = FastMCP(
        name="openrouter-image-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=runtime_lifespan,
        mask_error_details=True,
        auth=build_verifier(settings),
        middleware=[ArgumentGuard()],
    )
    register_tools(mcp)
    return mcp
