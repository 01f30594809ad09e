"""Fixtures for the OAuth tests: the authorization server, and this server trusting it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from openrouter_image_mcp.settings import Settings
from tests.app.helpers import INITIALIZE, MCP_HEADERS, auth, listening_socket, serving
from tests.fake_openrouter import FakeOpenRouter
from tests.oauth.authorization_server import SCOPE, AuthorizationServer


@pytest.fixture(scope="session")
def authorization_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthorizationServer]:
    """One oidc-provider per test worker; tests that rotate its keys start their own."""
    server = AuthorizationServer(tmp_path_factory.mktemp("oauth"), "http://127.0.0.1/mcp")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_authorization_server(tmp_path: Path) -> Iterator[AuthorizationServer]:
    """An authorization server this test alone uses (and may stop, restart or re-key)."""
    server = AuthorizationServer(tmp_path, "http://127.0.0.1/mcp")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """The socket the server will listen on, so its public URL is known beforehand."""
    with listening_socket() as sock:
        yield sock


@pytest.fixture
def public_url(listener: socket.socket) -> str:
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def oauth_settings(
    fake: FakeOpenRouter, authorization_server: AuthorizationServer, public_url: str
) -> Settings:
    return oauth_settings_for(fake, authorization_server, public_url)


def oauth_settings_for(
    fake: FakeOpenRouter, issuer: AuthorizationServer, public_url: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "public_url": public_url,
        "oauth_issuer": issuer.issuer,
        "oauth_required_scopes": SCOPE,
        "shutdown_grace_s": 1,
    }
    return fake.settings(**{**values, **overrides})


async def post_mcp(http: httpx.AsyncClient, token: str | None) -> httpx.Response:
    """An MCP initialize request, with `token` as its bearer token (or none)."""
    headers = {**MCP_HEADERS, **(auth(token) if token is not None else {})}
    return await http.post("/mcp", json=INITIALIZE, headers=headers)


@asynccontextmanager
async def serving_oauth(
    fake: FakeOpenRouter, issuer: AuthorizationServer, listener: socket.socket, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """This server on `listener`, trusting `issuer`; yields an HTTP client for it."""
    public_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings = oauth_settings_for(fake, issuer, public_url, **overrides)
    async with serving(settings, listener) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


@pytest.fixture
async def base_url(oauth_settings: Settings, listener: socket.socket) -> AsyncIterator[str]:
    async with serving(oauth_settings, listener) as url:
        yield url


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client
