"""Static bearer tokens: alone they say nothing about OAuth; beside OAuth both kinds work."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from openrouter_image_mcp.logs import CALL_LOGGER
from tests.app.helpers import (
    ALICE_TOKEN,
    TOKENS,
    auth,
    mcp_client,
    serving,
    small_png_data_url,
)
from tests.fake_openrouter import FakeOpenRouter
from tests.oauth.authorization_server import RS256_SERVICE, AuthorizationServer
from tests.oauth.conftest import oauth_settings_for, post_mcp

OAUTH_PATHS = [
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
]


async def test_with_static_tokens_only_nothing_speaks_of_oauth(fake: FakeOpenRouter) -> None:
    settings = fake.settings(auth_tokens=TOKENS, shutdown_grace_s=1)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        missing = await post_mcp(http, None)
        wrong = await post_mcp(http, "not-a-token")
        discovery = [await http.get(path) for path in OAUTH_PATHS]

    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
    assert wrong.status_code == 401
    challenge = wrong.headers["www-authenticate"]
    assert "IMAGE_MCP_AUTH_TOKENS" in challenge
    assert "IMAGE_MCP_AUTH_TOKENS" in wrong.json()["error_description"]
    assert "resource_metadata" not in challenge
    for text in (challenge, wrong.text):
        assert "register" not in text
        assert "sign in" not in text
    assert [response.status_code for response in discovery] == [404] * len(OAUTH_PATHS)


@pytest.fixture
async def both_url(
    fake: FakeOpenRouter,
    authorization_server: AuthorizationServer,
    listener: socket.socket,
    public_url: str,
) -> AsyncIterator[str]:
    settings = oauth_settings_for(fake, authorization_server, public_url, auth_tokens=TOKENS)
    async with serving(settings, listener) as url:
        yield url


async def test_static_tokens_and_oauth_tokens_work_side_by_side(
    both_url: str,
    public_url: str,
    authorization_server: AuthorizationServer,
    fake: FakeOpenRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=CALL_LOGGER)
    oauth_token = authorization_server.service_token(RS256_SERVICE, resource=f"{public_url}/mcp")
    for token in (ALICE_TOKEN, oauth_token):
        async with mcp_client(both_url, token) as client:
            result = await client.call_tool(
                "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
            )
        assert not result.is_error, result.content
    clients = [record.client for record in caplog.records if record.name == CALL_LOGGER]  # type: ignore[attr-defined]
    assert clients == ["alice", RS256_SERVICE]
    assert len(fake.completions) == 1  # the second call was a cache hit


async def test_beside_oauth_a_refusal_names_both_ways_in(both_url: str, public_url: str) -> None:
    async with httpx.AsyncClient(base_url=both_url) as http:
        wrong = await post_mcp(http, "not-a-token")
        usage = await http.get("/usage", headers=auth("not-a-token"))
    for response in (wrong, usage):
        assert response.status_code == 401
        description = response.json()["error_description"]
        assert "IMAGE_MCP_AUTH_TOKENS" in description
        assert "sign in again" in description
        assert (
            f'resource_metadata="{public_url}/.well-known/oauth-protected-resource/mcp"'
            in response.headers["www-authenticate"]
        )
