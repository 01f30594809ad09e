"""Bearer-token authentication: who may call /mcp, and plain routes guarded the same way."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastmcp.server.auth import AccessToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openrouter_image_mcp import auth as auth_module
from openrouter_image_mcp.auth import BearerTokenVerifier, build_verifier, requires_token
from openrouter_image_mcp.logs import CALL_LOGGER
from openrouter_image_mcp.settings import AuthToken
from tests.app.helpers import (
    ALICE_TOKEN,
    BOB_TOKEN,
    INITIALIZE,
    MCP_HEADERS,
    TOKENS,
    auth,
    mcp_client,
    serving,
    small_png_data_url,
)
from tests.fake_openrouter import FakeOpenRouter

VERIFIER = BearerTokenVerifier([AuthToken("alice", ALICE_TOKEN), AuthToken("bob", BOB_TOKEN)])


# --- The verifier -----------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "client"), [(ALICE_TOKEN, "alice"), (BOB_TOKEN, "bob")])
async def test_each_token_stands_for_its_client(token: str, client: str) -> None:
    access = await VERIFIER.verify_token(token)
    assert access is not None
    assert (access.client_id, access.token, access.scopes) == (client, token, [])


@pytest.mark.parametrize(
    "token",
    ["", ALICE_TOKEN[:-1], ALICE_TOKEN + "x", ALICE_TOKEN.upper(), f" {ALICE_TOKEN}", "alice"],
)
async def test_anything_but_an_exact_token_is_refused(token: str) -> None:
    assert await VERIFIER.verify_token(token) is None


async def test_a_match_does_not_stop_the_comparisons(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    real_compare = auth_module.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(real_compare(a, b))
        return calls[-1]

    monkeypatch.setattr(auth_module.hmac, "compare_digest", counting)
    await VERIFIER.verify_token(ALICE_TOKEN)  # the first configured token
    assert calls == [True, False]


def test_a_verifier_only_for_http_with_tokens(fake: FakeOpenRouter) -> None:
    assert isinstance(build_verifier(fake.settings(auth_tokens=TOKENS)), BearerTokenVerifier)
    assert build_verifier(fake.settings()) is None
    assert build_verifier(fake.settings(auth_tokens=TOKENS, transport="stdio")) is None


# --- /mcp over real HTTP ----------------------------------------------------------------------


async def test_no_token_gets_a_bare_bearer_challenge(
    http: httpx.AsyncClient, fake: FakeOpenRouter
) -> None:
    response = await http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert fake.completions == []  # no chat request (the model list is fetched at start)


@pytest.mark.parametrize("header", [f"Bearer {ALICE_TOKEN}x", "Bearer nope", f"Basic {BOB_TOKEN}"])
async def test_a_wrong_token_gets_401(http: httpx.AsyncClient, header: str) -> None:
    response = await http.post(
        "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": header}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("token", "client"), [(ALICE_TOKEN, "alice"), (BOB_TOKEN, "bob")])
async def test_a_right_token_lists_and_calls_tools_as_its_client(
    base_url: str,
    fake: FakeOpenRouter,
    caplog: pytest.LogCaptureFixture,
    token: str,
    client: str,
) -> None:
    caplog.set_level(logging.INFO, logger=CALL_LOGGER)
    async with mcp_client(base_url, token) as connected:
        names = {tool.name for tool in await connected.list_tools()}
        result = await connected.call_tool(
            "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
        )
    assert "analyze_image" in names
    assert not result.is_error, result.content
    assert result.content[0].text == "I see a PNG image, 64x48 pixels."
    assert len(fake.completions) == 1
    (line,) = [r for r in caplog.records if r.name == CALL_LOGGER]
    assert line.client == client  # type: ignore[attr-defined]


async def test_without_tokens_a_loopback_server_is_open(
    fake: FakeOpenRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=CALL_LOGGER)
    async with serving(fake.settings(shutdown_grace_s=1)) as url, mcp_client(url, None) as client:
        result = await client.call_tool(
            "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
        )
    assert not result.is_error, result.content
    (line,) = [r for r in caplog.records if r.name == CALL_LOGGER]
    assert line.client == "local"  # type: ignore[attr-defined]


# --- Plain routes with requires_token --------------------------------------------------------


def guarded_app(verifier: BearerTokenVerifier | None) -> Starlette:
    @requires_token(verifier)
    async def whoami(request: Request, token: AccessToken | None) -> Response:
        return JSONResponse({"client": token.client_id if token else None})

    return Starlette(routes=[Route("/whoami", whoami)])


async def get_whoami(verifier: BearerTokenVerifier | None, headers: dict[str, str]) -> Response:
    transport = httpx.ASGITransport(app=guarded_app(verifier))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/whoami", headers=headers)


async def test_a_guarded_route_passes_the_callers_token() -> None:
    response = await get_whoami(VERIFIER, auth(BOB_TOKEN))
    assert (response.status_code, response.json()) == (200, {"client": "bob"})


async def test_a_guarded_route_answers_401_like_mcp() -> None:
    missing = await get_whoami(VERIFIER, {})
    wrong = await get_whoami(VERIFIER, auth("not-a-token"))
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert wrong.json()["error"] == "invalid_token"
    assert "IMAGE_MCP_AUTH_TOKENS" in wrong.json()["error_description"]


async def test_a_guarded_route_is_open_when_no_tokens_are_configured() -> None:
    response = await get_whoami(None, {})
    assert (response.status_code, response.json()) == (200, {"client": None})
