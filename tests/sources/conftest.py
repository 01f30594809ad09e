"""Fixtures for source tests: loaders built from keyword settings, and tiny HTTP servers."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest

from openrouter_image_mcp.settings import Settings
from openrouter_image_mcp.sources import ImageLoader, Resolver
from tests.sources.servers import Route, TinyServer

MakeLoader = Callable[..., ImageLoader]
Serve = Callable[..., Awaitable[TinyServer]]


@pytest.fixture
async def make_loader() -> AsyncIterator[MakeLoader]:
    """Build ImageLoaders from Settings field names; all are closed after the test."""
    loaders: list[ImageLoader] = []

    def make(
        *,
        resolver: Resolver | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        **settings: Any,
    ) -> ImageLoader:
        loader = ImageLoader(
            Settings(transport="stdio", **settings), resolver=resolver, transport=transport
        )
        loaders.append(loader)
        return loader

    yield make
    for loader in loaders:
        await loader.aclose()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start TinyServers on 127.0.0.1; all are stopped after the test."""
    servers: list[TinyServer] = []

    async def start(routes: dict[str, Route], ssl_context: ssl.SSLContext | None = None):
        server = await TinyServer(routes, ssl_context).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
