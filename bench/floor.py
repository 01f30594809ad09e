"""The framework floor: a bare FastMCP server whose one tool does nothing.

It answers the benchmark's `analyze_image` calls over the same transports, served the same
way as the real server (stateless streamable HTTP at /mcp under uvicorn, or stdio), so what
the real server costs beyond it is ours: image work, cost controls, the upstream request.

    python -m bench.floor --transport http --port 8123
    python -m bench.floor --transport stdio
"""

from __future__ import annotations

import argparse
import asyncio
import os

import uvicorn
from fastmcp import FastMCP

os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")


def build() -> FastMCP:
    mcp = FastMCP(name="floor")

    @mcp.tool
    async def analyze_image(image_path: str, question: str | None = None) -> str:
        """Does nothing: the framework's own cost of a tool call."""
        return "ok"

    return mcp


async def serve(transport: str, port: int) -> None:
    mcp = build()
    if transport == "stdio":
        await mcp.run_stdio_async(show_banner=False)
        return
    app = mcp.http_app(path="/mcp", stateless_http=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    await uvicorn.Server(config).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=["http", "stdio"], default="http")
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args()
    asyncio.run(serve(args.transport, args.port))


if __name__ == "__main__":
    main()
