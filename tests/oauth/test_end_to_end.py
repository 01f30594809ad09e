"""A hosted agent's first connection, as the MCP SDK's OAuth client makes it.

From a bare 401 the client reads this server's resource metadata, discovers the authorization
server, registers itself (RFC 7591), sends the user through authorization code + PKCE, and
calls analyze_image with the access token it gets. The user's part, signing in and consenting
on oidc-provider's pages, is done here with httpx, the way a browser would submit the forms.
"""

from __future__ import annotations

import logging
import re
import socket
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import httpx2
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from openrouter_image_mcp.logs import CALL_LOGGER
from tests.app.helpers import serving, small_png_data_url
from tests.fake_openrouter import FakeOpenRouter
from tests.oauth.authorization_server import AuthorizationServer
from tests.oauth.conftest import oauth_settings_for

REDIRECT_URI = "http://127.0.0.1:33418/callback"  # never served: the code is read off the redirect
USER = "dana"
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


class MemoryStorage:
    """The client's token and registration store (a real client would keep them on disk)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Browser:
    """Signs in and consents on the authorization server's pages, then catches the redirect."""

    def __init__(self) -> None:
        self.visited: list[str] = []
        self.result: AuthorizationCodeResult | None = None

    async def open(self, authorization_url: str) -> None:
        self.visited.append(authorization_url)
        async with httpx.AsyncClient(timeout=10) as browser:
            response = await browser.get(authorization_url)
            for answer in (
                {"prompt": "login", "login": USER, "password": "any"},
                {"prompt": "consent"},
            ):
                response = await self._follow_to_page(browser, response)
                action = FORM_ACTION.search(response.text)
                assert action, response.text
                response = await browser.post(
                    urljoin(str(response.url), action.group(1)), data=answer
                )
            location = await self._follow_to_callback(browser, response)
        query = parse_qs(urlsplit(location).query)
        self.result = AuthorizationCodeResult(
            code=query["code"][0], state=query["state"][0], iss=query.get("iss", [None])[0]
        )

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None, "the authorization page was never opened"
        return self.result

    @staticmethod
    async def _follow_to_page(
        browser: httpx.AsyncClient, response: httpx.Response
    ) -> httpx.Response:
        while response.is_redirect:
            response = await browser.get(urljoin(str(response.url), response.headers["location"]))
        assert response.status_code == 200, response.text
        return response

    @staticmethod
    async def _follow_to_callback(browser: httpx.AsyncClient, response: httpx.Response) -> str:
        while response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(REDIRECT_URI):
                return location
            response = await browser.get(location)
        raise AssertionError(f"no redirect to the client: {response.status_code} {response.text}")


async def test_a_client_signs_in_from_a_bare_401_and_calls_a_tool(
    fake: FakeOpenRouter,
    authorization_server: AuthorizationServer,
    listener: socket.socket,
    public_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=CALL_LOGGER)
    browser = Browser()
    storage = MemoryStorage()
    oauth = OAuthClientProvider(
        server_url=f"{public_url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="end-to-end test agent",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    exchanges: list[tuple[str, str, int]] = []

    async def record(response: httpx2.Response) -> None:
        exchanges.append((response.request.method, str(response.request.url), response.status_code))

    def client_factory(**kwargs: object) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(**kwargs, event_hooks={"response": [record]})  # type: ignore[arg-type]

    settings = oauth_settings_for(fake, authorization_server, public_url)
    async with serving(settings, listener) as url:
        transport = StreamableHttpTransport(
            f"{url}/mcp", auth=oauth, httpx_client_factory=client_factory
        )
        async with Client(transport, timeout=30) as client:
            result = await client.call_tool(
                "analyze_image", {"image_path": small_png_data_url()}, raise_on_error=False
            )

    assert not result.is_error, result.content
    assert result.content[0].text == "I see a PNG image, 64x48 pixels."
    assert len(fake.completions) == 1
    (line,) = [record for record in caplog.records if record.name == CALL_LOGGER]
    assert line.client == USER  # type: ignore[attr-defined]

    issuer = authorization_server.issuer
    assert exchanges[0] == ("POST", f"{url}/mcp", 401)  # a bare request, refused
    visited = [request_url for _, request_url, _ in exchanges]
    assert f"{url}/.well-known/oauth-protected-resource/mcp" in visited
    assert any(u.startswith(issuer) and "/.well-known/" in u for u in visited)
    assert ("POST", f"{issuer}/reg", 201) in exchanges  # dynamic client registration
    assert ("POST", f"{issuer}/token", 200) in exchanges
    assert storage.client_info is not None  # registered, and remembered for next time
    (authorization_url,) = browser.visited
    authorization = parse_qs(urlsplit(authorization_url).query)
    assert authorization["code_challenge_method"] == ["S256"]
    assert authorization["resource"] == [f"{public_url}/mcp"]
