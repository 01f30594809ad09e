"""DNS-rebinding protection: Host and Origin are checked before the MCP layer sees a request."""

from __future__ import annotations

import httpx
import pytest

from openrouter_image_mcp.settings import Settings
from tests.app.helpers import ALICE_TOKEN, INITIALIZE, MCP_HEADERS, TOKENS, auth, serving
from tests.fake_openrouter import FakeOpenRouter


async def initialize(settings: Settings, host: str, origin: str | None = None) -> httpx.Response:
    """An authenticated initialize request to /mcp with the given Host (and Origin)."""
    headers = {**MCP_HEADERS, **auth(ALICE_TOKEN), "Host": host}
    if origin is not None:
        headers["Origin"] = origin
    async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        return await http.post("/mcp", json=INITIALIZE, headers=headers)


def public(fake: FakeOpenRouter, allowed_origins: str = "") -> Settings:
    """Settings of a server bound to every interface, as in the container."""
    return fake.settings(
        host="0.0.0.0", auth_tokens=TOKENS, allowed_origins=allowed_origins, shutdown_grace_s=1
    )


# --- Bound to loopback ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("127.0.0.1:8000", None),
        ("localhost:9999", "http://localhost:6274"),
        ("127.0.0.1", "http://127.0.0.1:5173"),
        ("[::1]:8000", "http://[::1]:3000"),
    ],
)
async def test_loopback_names_on_any_port_are_accepted(
    settings: Settings, host: str, origin: str | None
) -> None:
    assert (await initialize(settings, host, origin)).status_code == 200


async def test_a_foreign_host_is_refused_on_loopback(settings: Settings) -> None:
    response = await initialize(settings, "attacker.example")
    assert response.status_code == 421


async def test_a_foreign_origin_is_refused_on_loopback(settings: Settings) -> None:
    response = await initialize(settings, "127.0.0.1:8000", "http://attacker.example")
    assert response.status_code == 403


async def test_a_listed_name_is_accepted_on_loopback(fake: FakeOpenRouter) -> None:
    settings = fake.settings(auth_tokens=TOKENS, allowed_origins="mcp.test", shutdown_grace_s=1)
    assert (await initialize(settings, "mcp.test:8000", "https://mcp.test")).status_code == 200


# --- Bound to every interface (the container) ------------------------------------------------


async def test_without_a_list_any_host_is_accepted_on_a_public_bind(fake: FakeOpenRouter) -> None:
    response = await initialize(public(fake), "mcp-replicas:8000", "http://mcp-replicas:8000")
    assert response.status_code == 200


async def test_without_a_list_only_same_origin_browsers_are_accepted(fake: FakeOpenRouter) -> None:
    response = await initialize(public(fake), "mcp.internal:8000", "http://attacker.example")
    assert response.status_code == 403


@pytest.mark.parametrize("entry", ["https://mcp.example.com", "mcp.example.com"])
async def test_a_listed_public_name_is_accepted(fake: FakeOpenRouter, entry: str) -> None:
    # Behind a TLS-terminating proxy: the browser's Origin is https, the request itself http.
    response = await initialize(public(fake, entry), "mcp.example.com", "https://mcp.example.com")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("attacker.example", None, 421),
        ("mcp.example.com", "https://attacker.example", 403),
        ("mcp.example.com", "http://mcp.example.com:8080", 403),  # listed as exactly https
    ],
)
async def test_with_a_list_other_names_are_refused(
    fake: FakeOpenRouter, host: str, origin: str | None, status: int
) -> None:
    response = await initialize(public(fake, "https://mcp.example.com"), host, origin)
    assert response.status_code == status


async def test_health_answers_whatever_the_host(fake: FakeOpenRouter) -> None:
    # Orchestrators probe with a pod IP or container name as Host; health carries no secrets.
    settings = public(fake, "https://mcp.example.com")
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        for path in ("/healthz", "/readyz"):
            response = await http.get(path, headers={"Host": "10.1.2.3:8000"})
            assert response.status_code == 200, path
