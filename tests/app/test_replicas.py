"""Stateless HTTP: independent servers can serve one client's requests alternately."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import httpx2

from openrouter_image_mcp.settings import Settings
from tests.app.helpers import (
    ALICE_TOKEN,
    INITIALIZE,
    MCP_HEADERS,
    TOKENS,
    analyze_call,
    auth,
    mcp_client,
    reply_to,
    rpc,
    serving,
    small_png_data_url,
)
from tests.fake_openrouter import FakeOpenRouter


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer without sticky sessions: each request goes to the next server."""

    def __init__(self, ports: list[int]) -> None:
        self._ports = itertools.cycle(ports)
        self._inner = httpx2.AsyncHTTPTransport()
        self.sent_to: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._ports)
        request.url = request.url.copy_with(port=port)
        self.sent_to.append(port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_one_client_alternates_between_two_servers(
    settings: Settings, fake: FakeOpenRouter
) -> None:
    assert settings.stateless_http  # the default
    async with serving(settings) as first, serving(settings) as second:
        ports = [int(url.rsplit(":", 1)[1]) for url in (first, second)]
        balancer = RoundRobin(ports)

        def through_balancer(**kwargs: Any) -> httpx2.AsyncClient:
            return httpx2.AsyncClient(transport=balancer, **kwargs)

        async with mcp_client(first, ALICE_TOKEN, httpx_client_factory=through_balancer) as client:
            tools = await client.list_tools()
            results = [
                await client.call_tool(
                    "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
                )
                for _ in range(2)
            ]

    assert "analyze_image" in {tool.name for tool in tools}
    assert [result.is_error for result in results] == [False, False]
    assert len(fake.completions) == 2
    assert set(balancer.sent_to) == set(ports)


async def alternate_legacy_session(first: str, second: str) -> list[httpx.Response]:
    """A 2025-11-25 client (the last protocol with sessions) whose requests alternate."""
    headers = {**MCP_HEADERS, **auth(ALICE_TOKEN), "MCP-Protocol-Version": "2025-11-25"}
    async with httpx.AsyncClient(timeout=10) as http:
        initialized = await http.post(f"{first}/mcp", json=INITIALIZE, headers=headers)
        if session := initialized.headers.get("mcp-session-id"):
            headers["mcp-session-id"] = session
        steps = [(second, rpc("notifications/initialized")), (first, rpc("tools/list", 2))]
        steps.append((second, analyze_call(3)))
        return [initialized] + [
            await http.post(f"{url}/mcp", json=message, headers=headers) for url, message in steps
        ]


async def test_a_legacy_session_alternates_between_stateless_servers(
    settings: Settings,
) -> None:
    async with serving(settings) as first, serving(settings) as second:
        responses = await alternate_legacy_session(first, second)
    assert [response.status_code for response in responses] == [200, 202, 200, 200]
    assert reply_to(responses[3], 3)["result"]["isError"] is False


async def test_stateful_servers_need_sticky_sessions(fake: FakeOpenRouter) -> None:
    # Why the replicas profile keeps IMAGE_MCP_STATELESS_HTTP=true: with it off, the other
    # replica does not know the session.
    settings = fake.settings(auth_tokens=TOKENS, stateless_http=False, shutdown_grace_s=1)
    async with serving(settings) as first, serving(settings) as second:
        responses = await alternate_legacy_session(first, second)
    assert [response.status_code for response in responses] == [200, 404, 200, 404]
