"""Small builders shared by the end-to-end tests: images, clients and result accessors."""

from __future__ import annotations

import base64
import io
import random
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import psutil
from fastmcp import Client
from fastmcp.client.client import CallToolResult
from PIL import Image

from openrouter_image_mcp.imaging.workers import WORKER_COMMAND
from openrouter_image_mcp.server import build_server
from openrouter_image_mcp.settings import Settings

IMAGE_WORKER_MODULE = WORKER_COMMAND[-1]


def free_port() -> int:
    """A loopback port nothing listens on (the probe that found it has closed it again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def noise_png(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG of random pixels: it compresses to about 3 bytes a pixel, whatever its size."""
    pixels = random.Random(seed).randbytes(width * height * 3)  # noqa: S311 - test data
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class ImageWorkerWatch:
    """The image worker processes started in this test process since the watch began (the
    test's servers run in-process, so their workers are its children)."""

    def __init__(self) -> None:
        self._before = {process.pid for process in self._all()}

    def started(self) -> list[psutil.Process]:
        return [process for process in self._all() if process.pid not in self._before]

    @contextmanager
    def parked(self) -> Iterator[list[psutil.Process]]:
        """Stop every worker started so far (SIGSTOP) until the block ends: a real process
        holding its job, neither finishing nor failing."""
        stopped = self.started()
        for process in stopped:
            process.suspend()
        try:
            yield stopped
        finally:
            for process in stopped:
                with suppress(psutil.NoSuchProcess):
                    process.resume()

    @staticmethod
    def _all() -> list[psutil.Process]:
        found = []
        for child in psutil.Process().children(recursive=True):
            with suppress(psutil.Error):
                if IMAGE_WORKER_MODULE in child.cmdline():
                    found.append(child)
        return found
