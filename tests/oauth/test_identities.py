"""The token's identity claim is the client: rate limits, /usage and logs are keyed by it."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import httpx
import pytest

from tests.app.helpers import auth, mcp_client, serving, small_png_data_url
from tests.app.test_process import running_server, stop
from tests.fake_openrouter import FakeOpenRouter
from tests.oauth.authorization_server import ES256_SERVICE, RS256_SERVICE, AuthorizationServer
from tests.oauth.conftest import oauth_settings_for, post_mcp
from tests.oauth.test_resource_server import BAD_TOKENS


async def analyze(base_url: str, token: str, seed: int) -> dict:
    async with mcp_client(base_url, token) as client:
        result = await client.call_tool(
            "analyze_image",
            {"image_path": small_png_data_url((32 + seed, 32))},
            raise_on_error=False,
        )
    return {"is_error": result.is_error, "structured": result.structured_content}


async def test_rate_limits_and_usage_are_per_identity(
    fake: FakeOpenRouter,
    authorization_server: AuthorizationServer,
    listener: socket.socket,
    public_url: str,
) -> None:
    resource = f"{public_url}/mcp"
    first = authorization_server.service_token(RS256_SERVICE, resource=resource)
    second = authorization_server.service_token(ES256_SERVICE, resource=resource)
    settings = oauth_settings_for(fake, authorization_server, public_url, rate_limit="2/minute")
    async with serving(settings, listener) as url:
        first_calls = [await analyze(url, first, seed) for seed in range(3)]
        second_call = await analyze(url, second, 10)
        async with httpx.AsyncClient(base_url=url) as http:
            usage = await http.get("/usage", headers=auth(second))

    assert [call["is_error"] for call in first_calls] == [False, False, True]
    assert first_calls[2]["structured"]["error"]["code"] == "RATE_LIMITED"
    assert not second_call["is_error"]
    assert len(fake.completions) == 3
    assert usage.status_code == 200
    clients = usage.json()["clients"]
    assert clients[ES256_SERVICE]["calls"] == 1
    assert set(clients) <= {RS256_SERVICE, ES256_SERVICE}


async def test_another_claim_can_name_the_client(
    fake: FakeOpenRouter,
    authorization_server: AuthorizationServer,
    listener: socket.socket,
    public_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    token = authorization_server.sign(
        authorization_server.claims(aud=f"{public_url}/mcp", email="carol@example.com")
    )
    settings = oauth_settings_for(
        fake, authorization_server, public_url, oauth_client_claim="email"
    )
    async with serving(settings, listener) as url:
        assert not (await analyze(url, token, 0))["is_error"]
    assert [r.client for r in caplog.records if hasattr(r, "client")] == ["carol@example.com"]  # type: ignore[attr-defined]


async def test_tokens_never_reach_the_logs(
    fake: FakeOpenRouter, authorization_server: AuthorizationServer, tmp_path: Path
) -> None:
    """The real command at DEBUG level, OAuth and static tokens on, good and bad tokens sent."""
    public_url = "http://localhost:8000"  # the name tokens are minted for; any loopback port works
    resource = f"{public_url}/mcp"
    good = authorization_server.service_token(RS256_SERVICE, resource=resource)
    bad = [make(authorization_server, resource) for make in BAD_TOKENS.values()]
    oauth_env = {
        "IMAGE_MCP_PUBLIC_URL": public_url,
        "IMAGE_MCP_OAUTH_ISSUER": authorization_server.issuer,
    }
    with running_server(fake, tmp_path, **oauth_env) as server:
        assert not (await analyze(server.url, good, 0))["is_error"]
        async with httpx.AsyncClient(base_url=server.url) as http:
            for token in bad:
                assert (await post_mcp(http, token)).status_code == 401
                assert (await http.get("/usage", headers=auth(token))).status_code == 401
        stop(server)

    log = "".join(server.stderr_lines)
    assert "Bearer token rejected" in log  # FastMCP's verifier did log its refusals
    for token in [good, *bad]:
        for secret_part in secret_parts(token):
            assert secret_part not in log


def secret_parts(token: str) -> list[str]:
    """The whole token and, for a JWT, its signature: either would let a reader replay it."""
    parts = token.split(".")
    candidates = [token, parts[-1]] if len(parts) == 3 else [token]
    return [part for part in candidates if len(part) >= 16]
