"""Liveness and readiness: no auth, no upstream call, no secrets."""

from __future__ import annotations

import httpx

from openrouter_image_mcp import __version__
from tests.app.helpers import ALICE_TOKEN, TOKENS, serving
from tests.fake_openrouter import FakeOpenRouter


async def test_healthz_answers_without_auth(http: httpx.AsyncClient, fake: FakeOpenRouter) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}
    assert fake.completions == []  # no chat request (the model list is fetched at start)


async def test_readyz_is_ready_with_an_api_key(
    http: httpx.AsyncClient, fake: FakeOpenRouter
) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "version": __version__}
    assert fake.completions == []  # no chat request (the model list is fetched at start)


async def test_readyz_names_what_is_missing_without_revealing_secrets(
    fake: FakeOpenRouter,
) -> None:
    settings = fake.settings(openrouter_api_key=None, auth_tokens=TOKENS, shutdown_grace_s=1)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert any("OPENROUTER_API_KEY" in reason for reason in body["reasons"])
    assert ALICE_TOKEN not in response.text


async def test_get_on_mcp_is_405_the_sessionless_server_offers_no_event_stream(
    http: httpx.AsyncClient,
) -> None:
    headers = {"Authorization": f"Bearer {ALICE_TOKEN}", "Accept": "text/event-stream"}
    response = await http.get("/mcp", headers=headers)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
